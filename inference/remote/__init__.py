"""Kiln on other machines: a server for the editor's jobs (Ray Serve) and its plain-HTTP client."""
