"""The management API under ``/api/v1/``: accounts, tokens, robots, visibility."""
