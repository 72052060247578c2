"""Chrontainer's HTTP server: REST API, web UI and the people who use them."""
