"""Web views, one module per concept: playbooks, runs (auth is Django's own)."""
