"""The package store (hosted Maven, npm and PyPI repositories) on SQLite and
PostgreSQL, and how package files count for quotas and garbage collection."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cargohold.metadata.accounts import UserRecord
from cargohold.metadata.packages import AssetRecord, PackageRepositoryRecord
from tests.conformance.conftest import Stores

pytestmark = pytest.mark.anyio

JAR, POM, TGZ = ("sha256:" + c * 64 for c in "abc")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def repo(name: str, fmt: str = "maven", namespace: str = "team") -> PackageRepositoryRecord:
    return PackageRepositoryRecord(
        name=name,
        format=fmt,
        namespace=namespace,
        private=False,
        write_policy="deny",
        version_policy="release",
        created_at=NOW,
    )


def asset(repository: str, path: str, digest: str, size: int, version: str = "1.0") -> AssetRecord:
    return AssetRecord(
        repository=repository,
        path=path,
        package="com.example:lib",
        version=version,
        digest=digest,
        size=size,
        content_type="application/java-archive",
        created_at=NOW,
        attributes={"kind": "artifact", "hashes": {"sha1": "x"}},
    )


async def test_repositories_create_once_update_and_delete(stores: Stores) -> None:
    s = stores.packages
    assert await s.create_package_repository(repo("maven-releases"))
    assert not await s.create_package_repository(repo("maven-releases", "npm"))
    await s.create_package_repository(repo("npm-hosted", "npm"))
    assert [r.name for r in await s.list_package_repositories()] == [
        "maven-releases",
        "npm-hosted",
    ]
    found = await s.get_package_repository("maven-releases")
    assert found == repo("maven-releases")
    assert await s.update_package_repository("maven-releases", {"private": True})
    assert await s.update_package_repository("maven-releases", {"cleanup_policy": "{}"})
    updated = await s.get_package_repository("maven-releases")
    assert updated is not None and updated.private and updated.cleanup_policy == "{}"
    assert updated.write_policy == "deny"  # untouched
    assert not await s.update_package_repository("missing", {"private": True})
    with pytest.raises(ValueError):
        await s.update_package_repository("maven-releases", {"namespace": "thief"})
    assert await s.delete_package_repository("maven-releases")
    assert await s.get_package_repository("maven-releases") is None
    assert not await s.delete_package_repository("maven-releases")


async def test_assets_write_once_unless_overwrite(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("r"))
    path = "com/example/lib/1.0/lib-1.0.jar"
    assert await s.put_asset(asset("r", path, JAR, 10), overwrite=False)
    assert not await s.put_asset(asset("r", path, POM, 20), overwrite=False)
    stored = await s.get_asset("r", path)
    assert stored is not None and stored.digest == JAR and stored.attributes["hashes"]["sha1"]
    assert await s.put_asset(asset("r", path, POM, 20), overwrite=True)
    stored = await s.get_asset("r", path)
    assert stored is not None and (stored.digest, stored.size) == (POM, 20)
    assert await s.set_asset_attributes("r", path, {"yanked": "broken"})
    stored = await s.get_asset("r", path)
    assert stored is not None and stored.attributes == {"yanked": "broken"}


async def test_listing_by_prefix_package_and_version(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("r"))
    for path, version in [
        ("com/example/lib/1.0/lib-1.0.jar", "1.0"),
        ("com/example/lib/1.0/lib-1.0.pom", "1.0"),
        ("com/example/lib/2.0/lib-2.0.jar", "2.0"),
        ("com/example/lib_x/1.0/lib_x-1.0.jar", "1.0"),
    ]:
        await s.put_asset(asset("r", path, JAR, 10, version), overwrite=False)
    # "_" and "%" in a prefix are literal, not LIKE wildcards.
    assert [a.path for a in await s.list_assets("r", prefix="com/example/lib_")] == [
        "com/example/lib_x/1.0/lib_x-1.0.jar"
    ]
    assert len(await s.list_assets("r", prefix="com/example/lib/")) == 3
    assert [a.path for a in await s.list_assets("r", package="com.example:lib", version="2.0")] == [
        "com/example/lib/2.0/lib-2.0.jar"
    ]
    assert await s.list_packages("r") == ["com.example:lib"]
    gone = await s.delete_assets("r", ["com/example/lib/1.0/lib-1.0.jar", "missing"])
    assert [a.path for a in gone] == ["com/example/lib/1.0/lib-1.0.jar"]
    assert len(await s.list_assets("r")) == 3


async def test_tags(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("npm", "npm"))
    await s.set_package_tag("npm", "left-pad", "latest", "1.0.0")
    await s.set_package_tag("npm", "left-pad", "latest", "1.1.0")
    await s.set_package_tag("npm", "left-pad", "beta", "2.0.0-rc.1")
    assert await s.package_tags("npm", "left-pad") == {"latest": "1.1.0", "beta": "2.0.0-rc.1"}
    assert await s.delete_package_tags("npm", "left-pad", ["beta", "nope"]) == 1
    assert await s.delete_package_tags("npm", "left-pad") == 1
    assert await s.package_tags("npm", "left-pad") == {}


async def test_package_files_count_for_quota_and_keep_blobs(stores: Stores) -> None:
    await stores.accounts.create_user(UserRecord("team", "x", False, NOW, NOW), False)
    s = stores.packages
    await s.create_package_repository(repo("a"))
    await s.create_package_repository(repo("b"))
    await s.create_package_repository(repo("other", namespace="someone"))
    await s.put_asset(asset("a", "com/example/lib/1.0/lib-1.0.jar", JAR, 1000), overwrite=False)
    # The same bytes in a second repository of the namespace count once.
    await s.put_asset(asset("b", "com/example/lib/1.0/lib-1.0.jar", JAR, 1000), overwrite=False)
    await s.put_asset(asset("b", "com/example/lib/1.0/lib-1.0.pom", POM, 10), overwrite=False)
    await s.put_asset(asset("other", "x/y/1.0/y-1.0.jar", TGZ, 99999), overwrite=False)
    usage, _ = await stores.base.namespace_usage("team")
    assert usage == 1010
    assert await stores.gov.blob_in_use(JAR)
    assert await s.delete_package_repository("a")
    assert await stores.gov.blob_in_use(JAR)  # still in b
    assert await s.delete_package_repository("b")
    assert not await stores.gov.blob_in_use(JAR)
    assert (await stores.base.namespace_usage("team"))[0] == 0


async def test_prefixes_are_case_sensitive(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("r"))
    await s.put_asset(asset("r", "org/example/lib/1.0/lib-1.0.jar", JAR, 1), overwrite=False)
    await s.put_asset(asset("r", "org/Example/Lib/1.0/Lib-1.0.jar", POM, 1), overwrite=False)
    assert [a.path for a in await s.list_assets("r", prefix="org/Example/")] == [
        "org/Example/Lib/1.0/Lib-1.0.jar"
    ]
    assert await s.list_assets("r", prefix="ORG/") == []


async def test_extra_blob_lives_with_its_file(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("py", "pypi"))
    wheel = replace(
        asset("py", "packages/demo/1.0/demo-1.0-py3-none-any.whl", JAR, 5), extra_digest=TGZ
    )
    await s.put_asset(wheel, overwrite=False)
    stored = await s.get_asset("py", wheel.path)
    assert stored is not None and stored.extra_digest == TGZ
    assert await stores.gov.blob_in_use(TGZ)
    await s.delete_assets("py", [wheel.path])
    assert not await stores.gov.blob_in_use(TGZ)


async def test_namespace_owned_repositories(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("b", namespace="acme"))
    await s.create_package_repository(repo("a", namespace="acme"))
    await s.create_package_repository(repo("c", namespace="other"))
    assert await s.package_repositories_of("acme") == ["a", "b"]
    assert await s.package_repositories_of("nobody") == []


async def test_listing_limit(stores: Stores) -> None:
    s = stores.packages
    await s.create_package_repository(repo("r"))
    for n in range(3):
        await s.put_asset(asset("r", f"a/b/{n}/b-{n}.jar", JAR, 1, str(n)), overwrite=False)
    assert [a.path for a in await s.list_assets("r", prefix="a/", limit=2)] == [
        "a/b/0/b-0.jar",
        "a/b/1/b-1.jar",
    ]
