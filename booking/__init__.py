"""Flight booking: the ``BookingProvider`` interface the travel activities call, and a simulated
provider that keeps its bookings in the app database (idempotent across workers and restarts)."""
