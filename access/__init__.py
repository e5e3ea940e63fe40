"""Who may do what: users, tokens and passwords, and the scope of every read and write."""
