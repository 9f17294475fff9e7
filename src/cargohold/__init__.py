"""Cargohold: a self-hosted container and artifact registry."""

__version__ = "0.1.0"
