"""Fixtures shared by the store suites: each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy

from cargohold.metadata.accounts_sql import SqlAccountStore
from cargohold.metadata.governance_sql import SqlGovernanceStore
from cargohold.metadata.packages_sql import SqlPackageStore
from cargohold.metadata.sql import SqlMetadataStore
from tests.support import IN_CI

POSTGRES_URL = os.environ.get(
    "CARGOHOLD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A throwaway schema in the test database, dropped afterwards."""
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    yield schema
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    schema = request.getfixturevalue("postgres_schema")
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@dataclass
class Stores:
    """The metadata store and the stores that share its engine."""

    base: SqlMetadataStore
    gov: SqlGovernanceStore
    packages: SqlPackageStore
    accounts: SqlAccountStore


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    base = SqlMetadataStore(database_url)
    await base.create_schema()
    yield Stores(base, SqlGovernanceStore(base), SqlPackageStore(base), SqlAccountStore(base))
    await base.close()
