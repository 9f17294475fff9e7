"""Assemble the registry from settings: the one place that picks implementations."""

from __future__ import annotations

from cargohold.config import Settings
from cargohold.core.registry import Registry
from cargohold.metadata.accounts_sql import SqlAccountStore
from cargohold.metadata.governance_sql import SqlGovernanceStore
from cargohold.metadata.packages_sql import SqlPackageStore
from cargohold.metadata.sql import SqlMetadataStore
from cargohold.storage.factory import make_driver


def build_registry(settings: Settings) -> Registry:
    store = SqlMetadataStore(settings.metadata_url)
    return Registry.build(
        make_driver(settings),
        store,
        SqlAccountStore(store),
        SqlGovernanceStore(store),
        SqlPackageStore(store),
        settings,
    )
