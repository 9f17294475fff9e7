"""Hosted package repositories (Maven, npm, PyPI) built on the registry's core:
the same accounts and rights, storage, quotas and garbage collection as images."""
