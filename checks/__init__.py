"""Identity checks for a survivor's profile: MRZ, dates, names and duplicates (pure, no I/O)."""
