"""Server-rendered web pages for caseworkers, embassy liaisons and supervisors (no JavaScript)."""
