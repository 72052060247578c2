"""The REST API under /api/v1: one module per resource, built on spec.py's declared routes."""
