"""Browser tests of the web pages against the real stack (`repatriation up`)."""
