"""The HTTP API (JSON, bearer tokens) and the app that also serves the web pages."""
