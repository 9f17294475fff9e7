"""Hosted package repositories under ``/repository/<name>/`` (Maven, npm, PyPI)."""
