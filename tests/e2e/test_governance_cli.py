"""Lifecycle policies, the recycle bin and garbage collection, driven through the
`cargohold` CLI against live servers, with images pushed and pulled by skopeo.

Every server gets its administrator from ``CARGOHOLD_AUTH__BOOTSTRAP_ADMIN``; the CLI
logs in with ``CARGOHOLD_USERNAME``/``CARGOHOLD_PASSWORD``. Images are distinct
one-layer OCI images built offline with umoci: ``v1``..``v5``, and ``u1``/``u2``
that are pushed by digest only, so they are untagged in the registry. Assertions
are on what the CLI prints (JSON, or its error line) and on what skopeo can still
copy out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.accounts import ADMIN, AuthRegistry
from tests.e2e.images import Layout, build_image, init_layout, run
from tests.support import LiveServer, require_program

pytestmark = pytest.mark.e2e

CREDS = f"{ADMIN[0]}:{ADMIN[1]}"
BOOTSTRAP = {"CARGOHOLD_AUTH__BOOTSTRAP_ADMIN": CREDS}
# The order the lifecycle tests push in: the untagged ones between the versions.
PUSH_ORDER = ("v1", "v2", "u1", "v3", "u2", "v4", "v5")

# Written by hand, not by json.dumps: `policy get` must hand back these very bytes
# (fields in a non-canonical order, two-space indents, a trailing newline).
POLICY = """{
  "rules": [
    {
      "rulePriority": 10,
      "description": "keep the 2 newest v* images",
      "action": {"type": "expire"},
      "selection": {
        "tagStatus": "tagged",
        "tagPatternList": ["v*"],
        "countType": "imageCountMoreThan",
        "countNumber": 2
      }
    },
    {
      "rulePriority": 20,
      "description": "expire untagged images beyond 1",
      "action": {"type": "expire"},
      "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}
    }
  ]
}
"""


# -- images, servers, clients -------------------------------------------------------


@dataclass(frozen=True)
class Images:
    layout: Layout
    digests: dict[str, str]
    contents: dict[str, bytes]

    def blobs(self, name: str) -> set[str]:
        """Every blob the registry stores for image ``name``: its config and layers
        (the manifest's bytes live in the metadata database, with its row)."""
        manifest = self.layout.manifest(name)
        layers = {layer["digest"] for layer in manifest["layers"]}
        return {manifest["config"]["digest"], *layers}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    layout = init_layout(tmp_path_factory.mktemp("governance-cli-images") / "layout")
    contents = {name: f"{name} {uuid.uuid4()}\n".encode() for name in PUSH_ORDER}
    digests = {name: build_image(layout, name, {"hello.txt": contents[name]}) for name in contents}
    assert len(set(digests.values())) == len(PUSH_ORDER)
    return Images(layout, digests, contents)


def start(data_dir: Path, workdir: Path, **env: str) -> AuthRegistry:
    """A live server with the bootstrap administrator (and ``env``), CLI bound to it."""
    server = LiveServer(data_dir, env={**BOOTSTRAP, **env}).start()
    return AuthRegistry(server, workdir)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """Default governance settings: the schedule (hourly) never fires during a test."""
    base = tmp_path_factory.mktemp("governance-cli")
    registry = start(base / "data", base)
    yield registry
    registry.stop()


def cli_json(registry: AuthRegistry, *args: str, stdin: str | None = None) -> Any:
    return json.loads(registry.cli(*args, user=ADMIN, stdin=stdin).stdout)


def cli_error(registry: AuthRegistry, *args: str) -> str:
    """The error line of a CLI command that must fail."""
    done = registry.cli(*args, user=ADMIN, check=False)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    return done.stderr.strip()


def gc(data_dir: Path, *args: str, **env: str) -> dict[str, Any]:
    """`cargohold gc ARGS --data-dir DATA_DIR`, run locally beside the live server."""
    done = run(
        sys.executable, "-m", "cargohold", "gc", *args, "--data-dir", os.fspath(data_dir), env=env
    )
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def blob_files(data_dir: Path) -> dict[str, tuple[int, int]]:
    """digest -> (size, mtime) of every blob file under DATA_DIR/storage/v1/blobs."""
    root = data_dir / "storage" / "v1" / "blobs"
    return {
        f"{path.parent.parent.name}:{path.name}": (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.glob("*/*/*")
        if path.is_file()
    }


@dataclass(frozen=True)
class Skopeo:
    host: str
    workdir: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(require_program("skopeo"), *args, check=check, timeout=60)

    def ref(self, repo: str, reference: str) -> str:
        sep = "@" if reference.startswith("sha256:") else ":"
        return f"docker://{self.host}/{repo}{sep}{reference}"

    def push(self, images: Images, repo: str, *names: str) -> None:
        """Push images in order; ``u*`` by digest only (untagged), the others by tag."""
        for name in names:
            target = images.digests[name] if name.startswith("u") else name
            self(
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                CREDS,
                images.layout.ref(name),
                self.ref(repo, target),
            )

    def inspect(self, repo: str, reference: str) -> subprocess.CompletedProcess[str]:
        return self(
            "inspect",
            "--tls-verify=false",
            "--creds",
            CREDS,
            self.ref(repo, reference),
            check=False,
        )

    def digest(self, repo: str, reference: str) -> str:
        done = self.inspect(repo, reference)
        assert done.returncode == 0, done.stderr
        return str(json.loads(done.stdout)["Digest"])

    def gone(self, repo: str, reference: str) -> None:
        done = self.inspect(repo, reference)
        assert done.returncode != 0, done.stdout
        assert "manifest unknown" in done.stderr, done.stderr

    def tags(self, repo: str) -> list[str]:
        out = self(
            "list-tags", "--tls-verify=false", "--creds", CREDS, f"docker://{self.host}/{repo}"
        )
        return sorted(json.loads(out.stdout)["Tags"])

    def delete(self, repo: str, tag: str) -> None:
        self("delete", "--tls-verify=false", "--creds", CREDS, self.ref(repo, tag))

    def copies_out(self, images: Images, repo: str, tag: str, name: str | None = None) -> None:
        """Copy ``repo:tag`` into a new OCI layout: every blob must come, the manifest
        digest must be the original's and the file in the layer its content."""
        name = name or tag
        out = Layout(self.workdir / f"out-{uuid.uuid4().hex[:8]}")
        self(
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            CREDS,
            self.ref(repo, tag),
            f"oci:{out.path}:{tag}",
        )
        assert out.digest(tag) == images.digests[name]
        assert out.read_file(tag, "hello.txt", self.workdir) == images.contents[name]


def skopeo_for(registry: AuthRegistry, tmp_path: Path) -> Skopeo:
    return Skopeo(registry.host, tmp_path)


def expiry(images: Images, name: str, priority: int) -> tuple[str, list[str], int]:
    return images.digests[name], [] if name.startswith("u") else [name], priority


# The images POLICY expires after PUSH_ORDER, oldest first within each rule.
def expected_expiries(images: Images) -> list[tuple[str, list[str], int]]:
    return [
        expiry(images, "v1", 10),
        expiry(images, "v2", 10),
        expiry(images, "v3", 10),
        expiry(images, "u1", 20),
    ]


def new_repo() -> str:
    return f"team/app-{uuid.uuid4().hex[:8]}"


# -- 1. lifecycle ---------------------------------------------------------------------


def test_lifecycle_policy_put_preview_run_and_record(
    registry: AuthRegistry, images: Images, tmp_path: Path
) -> None:
    skopeo = skopeo_for(registry, tmp_path)
    repo = new_repo()
    skopeo.push(images, repo, *PUSH_ORDER)
    assert skopeo.tags(repo) == ["v1", "v2", "v3", "v4", "v5"]

    # Refused policies name the rule and the field, and store nothing.
    bad = tmp_path / "bad.json"
    bad.write_text(POLICY.replace('"countNumber": 1', '"countNumber": 0'))
    assert cli_error(registry, "policy", "put", repo, os.fspath(bad)) == (
        "Error: 400: lifecycle policy rule 20: selection.countNumber must be a positive "
        "integer (0 is not allowed), not 0"
    )
    bad.write_text(POLICY.replace('"countNumber": 2', '"countNumbr": 2'))
    said = cli_error(registry, "policy", "put", repo, os.fspath(bad))
    assert said.startswith(
        'Error: 400: lifecycle policy rule 10: unknown field "selection.countNumbr"; '
        "the fields allowed here are selection.tagStatus, "
    ), said
    assert cli_error(registry, "policy", "get", repo) == (
        f"Error: 404: repository {repo} has no lifecycle policy"
    )

    policy = tmp_path / "policy.json"
    policy.write_text(POLICY)
    # A policy in a file can be previewed before it is stored.
    before = cli_json(registry, "policy", "preview", repo, os.fspath(policy))

    put = cli_json(registry, "policy", "put", repo, os.fspath(policy))
    assert put == {"repository": repo, "lifecyclePolicyText": POLICY}
    assert registry.cli("policy", "get", repo, user=ADMIN).stdout == POLICY + "\n"

    preview = cli_json(registry, "policy", "preview", repo)
    assert preview == before
    assert preview["repository"] == repo
    assert preview["status"] == "COMPLETE"
    assert preview["summary"] == {"expiringImageTotalCount": 4}
    results = preview["results"]
    assert [
        (r["imageDigest"], r["imageTags"], r["appliedRulePriority"]) for r in results
    ] == expected_expiries(images)
    assert {r["action"]["type"] for r in results} == {"EXPIRE"}
    # Push times follow the push order: v1 < v2 < u1 < v3.
    pushed = {
        tuple(r["imageTags"]) or ("u1",): datetime.fromisoformat(r["imagePushedAt"])
        for r in results
    }
    assert pushed[("v1",)] < pushed[("v2",)] < pushed[("u1",)] < pushed[("v3",)]
    # A preview deletes nothing.
    assert skopeo.tags(repo) == ["v1", "v2", "v3", "v4", "v5"]

    ran = cli_json(registry, "policy", "run", repo)
    assert ran["repository"] == repo
    assert ran["trigger"] == "manual"
    assert [(e["digest"], e["tags"], e["rulePriority"]) for e in ran["expired"]] == (
        expected_expiries(images)
    )
    assert len({e["trashId"] for e in ran["expired"]}) == 4

    for tag in ("v1", "v2", "v3"):
        skopeo.gone(repo, tag)
    skopeo.gone(repo, images.digests["u1"])
    for name in ("v4", "v5", "u2"):
        reference = images.digests[name] if name == "u2" else name
        assert skopeo.digest(repo, reference) == images.digests[name]
    assert skopeo.tags(repo) == ["v4", "v5"]

    runs = cli_json(registry, "policy", "runs", repo)
    assert len(runs) == 1
    assert runs[0] == ran
    assert [(e["digest"], e["tags"], e["rulePriority"]) for e in runs[0]["expired"]] == (
        expected_expiries(images)
    )

    assert registry.cli("policy", "delete", repo, user=ADMIN).stdout == (
        f"removed the lifecycle policy of {repo}\n"
    )
    assert cli_error(registry, "policy", "get", repo) == (
        f"Error: 404: repository {repo} has no lifecycle policy"
    )


# -- 2. the recycle bin -------------------------------------------------------------


def test_restore_expired_and_deleted_images(
    registry: AuthRegistry, images: Images, tmp_path: Path
) -> None:
    skopeo = skopeo_for(registry, tmp_path)
    repo = new_repo()
    skopeo.push(images, repo, *PUSH_ORDER)
    policy = tmp_path / "policy.json"
    policy.write_text(POLICY)
    registry.cli("policy", "put", repo, os.fspath(policy), user=ADMIN)
    ran = cli_json(registry, "policy", "run", repo)

    bin_ = cli_json(registry, "trash", "list", "--repository", repo)
    assert sorted((e["digest"], e["tags"], e["reason"]) for e in bin_) == sorted(
        (digest, tags, f"lifecycle rule {priority}")
        for digest, tags, priority in expected_expiries(images)
    )
    assert {(e["repository"], e["kind"], e["deleted_by"]) for e in bin_} == {
        (repo, "manifest", ADMIN[0])
    }
    assert {e["id"] for e in bin_} == {e["trashId"] for e in ran["expired"]}
    by_digest = {e["digest"]: e for e in bin_}

    # A tagged image comes back with its tag, every blob of it intact.
    entry = by_digest[images.digests["v2"]]
    restored = cli_json(registry, "trash", "restore", str(entry["id"]))
    assert restored["restored_tags"] == ["v2"]
    assert restored["entry"] == entry
    skopeo.copies_out(images, repo, "v2")
    # An untagged one comes back by digest.
    entry = by_digest[images.digests["u1"]]
    assert cli_json(registry, "trash", "restore", str(entry["id"]))["restored_tags"] == []
    assert skopeo.digest(repo, images.digests["u1"]) == images.digests["u1"]

    left = cli_json(registry, "trash", "list", "--repository", repo)
    assert sorted(e["digest"] for e in left) == sorted([images.digests["v1"], images.digests["v3"]])
    assert cli_error(registry, "trash", "restore", str(entry["id"])) == (
        f"Error: 404: no entry {entry['id']} in the recycle bin"
    )

    # skopeo delete (the manifest, by digest) puts the image in the bin too.
    skopeo.delete(repo, "v4")
    skopeo.gone(repo, "v4")
    deleted = cli_json(registry, "trash", "list", "--repository", repo)[0]
    assert {k: deleted[k] for k in ("repository", "kind", "digest", "tags", "reason")} == {
        "repository": repo,
        "kind": "manifest",
        "digest": images.digests["v4"],
        "tags": ["v4"],
        "reason": "deleted",
    }
    assert deleted["deleted_by"] == ADMIN[0]
    assert cli_json(registry, "trash", "restore", str(deleted["id"]))["restored_tags"] == ["v4"]
    skopeo.copies_out(images, repo, "v4")
    assert skopeo.tags(repo) == ["v2", "v4", "v5"]


# -- 3. garbage collection through the CLI ------------------------------------------


def test_gc_keeps_the_bin_then_frees_exactly_what_it_released(
    images: Images, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    repo, other = new_repo(), new_repo()
    registry = start(data_dir, tmp_path)
    try:
        skopeo = skopeo_for(registry, tmp_path)
        skopeo.push(images, repo, "v1", "v2", "v3")
        skopeo.push(images, other, "v3")  # the same image in another repository
        skopeo.delete(repo, "v2")
        skopeo.delete(repo, "v3")

        # The bin holds v2 and v3: a round with no grace period frees nothing.
        kept = blob_files(data_dir)
        assert set(kept) == images.blobs("v1") | images.blobs("v2") | images.blobs("v3")
        report = gc(data_dir, "--grace-seconds", "0")
        assert report == {
            "dry_run": False,
            "trash_purged": 0,
            "links_removed": 0,
            "blobs_deleted": 0,
            "bytes_freed": 0,
            "blobs_kept_recent": 0,
            "uploads_purged": 0,
        }
        assert blob_files(data_dir) == kept
        entry = next(
            e
            for e in cli_json(registry, "trash", "list", "--repository", repo)
            if e["tags"] == ["v2"]
        )
        assert cli_json(registry, "trash", "restore", str(entry["id"]))["restored_tags"] == ["v2"]
        skopeo.copies_out(images, repo, "v2")
        skopeo.delete(repo, "v2")
    finally:
        registry.stop()

    # The same data with no retention: the server's own GC round empties the bin.
    no_retention = {"CARGOHOLD_GOVERNANCE__TRASH_RETENTION_DAYS": "0"}
    registry = start(data_dir, tmp_path, CARGOHOLD_GC__INTERVAL_SECONDS="1", **no_retention)
    try:
        skopeo = skopeo_for(registry, tmp_path)
        deadline = time.monotonic() + 10
        while cli_json(registry, "trash", "list", "--repository", repo):
            assert time.monotonic() < deadline, "the server's GC never emptied the bin"
            time.sleep(0.5)
        # Its grace period (24 h) kept every blob.
        assert blob_files(data_dir) == kept

        v2_blobs = images.blobs("v2")
        v2_bytes = sum(kept[digest][0] for digest in v2_blobs)
        dry = gc(data_dir, "--dry-run", "--grace-seconds", "0", **no_retention)
        assert dry == {
            "dry_run": True,
            "trash_purged": 0,
            # this repository's links to the config and layer of v2 and of v3
            "links_removed": 4,
            # v3 stays: the other repository still has it
            "blobs_deleted": len(v2_blobs),
            "bytes_freed": v2_bytes,
            "blobs_kept_recent": 0,
            "uploads_purged": 0,
        }
        assert blob_files(data_dir) == kept

        real = gc(data_dir, "--grace-seconds", "0", **no_retention)
        assert real == {**dry, "dry_run": False}
        after = blob_files(data_dir)
        assert set(kept) - set(after) == v2_blobs
        assert {digest: kept[digest] for digest in after} == after
        assert sum(kept[digest][0] for digest in set(kept) - set(after)) == real["bytes_freed"]

        skopeo.gone(repo, "v2")
        skopeo.copies_out(images, repo, "v1")
        skopeo.copies_out(images, other, "v3")
        assert skopeo.tags(repo) == ["v1"]
        # Nothing left to free.
        assert gc(data_dir, "--grace-seconds", "0", **no_retention)["blobs_deleted"] == 0
    finally:
        registry.stop()


def test_gc_dry_run_counts_bin_entries_past_retention(images: Images, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    no_retention = {"CARGOHOLD_GOVERNANCE__TRASH_RETENTION_DAYS": "0"}
    registry = start(data_dir, tmp_path, **no_retention)
    try:
        skopeo = skopeo_for(registry, tmp_path)
        repo = new_repo()
        skopeo.push(images, repo, "v1", "v2")
        skopeo.delete(repo, "v2")  # in the bin, already past its (zero) retention
        kept = blob_files(data_dir)
        v2_bytes = sum(kept[digest][0] for digest in images.blobs("v2"))

        dry = gc(data_dir, "--dry-run", "--grace-seconds", "0", **no_retention)
        assert blob_files(data_dir) == kept
        real = gc(data_dir, "--grace-seconds", "0", **no_retention)
        assert (real["trash_purged"], real["blobs_deleted"], real["bytes_freed"]) == (
            1,
            len(images.blobs("v2")),
            v2_bytes,
        )
        # What the dry run promised is what the real run did.
        assert {**dry, "dry_run": False} == real
    finally:
        registry.stop()


# -- 4. scheduled lifecycle runs ----------------------------------------------------


def test_scheduled_lifecycle_run(images: Images, tmp_path: Path) -> None:
    registry = start(
        tmp_path / "data", tmp_path, CARGOHOLD_GOVERNANCE__LIFECYCLE_INTERVAL_SECONDS="2"
    )
    try:
        skopeo = skopeo_for(registry, tmp_path)
        repo = new_repo()
        skopeo.push(images, repo, "v1", "v2", "v3")
        keep_one = POLICY.replace('"countNumber": 2', '"countNumber": 1').replace(
            "keep the 2 newest", "keep the newest"
        )
        registry.cli("policy", "put", repo, "-", user=ADMIN, stdin=keep_one)
        assert registry.cli("policy", "get", repo, user=ADMIN).stdout == keep_one + "\n"

        deadline = time.monotonic() + 12
        while True:
            runs = cli_json(registry, "policy", "runs", repo)
            done = [r for r in runs if r["expired"]]
            if done:
                break
            assert time.monotonic() < deadline, f"no scheduled run expired anything: {runs}"
            time.sleep(0.5)

        assert {r["trigger"] for r in runs} == {"schedule"}
        assert len(done) == 1
        assert [(e["digest"], e["tags"], e["rulePriority"]) for e in done[0]["expired"]] == [
            expiry(images, "v1", 10),
            expiry(images, "v2", 10),
        ]
        skopeo.gone(repo, "v1")
        skopeo.gone(repo, "v2")
        assert skopeo.digest(repo, "v3") == images.digests["v3"]
        assert skopeo.tags(repo) == ["v3"]
        bin_ = cli_json(registry, "trash", "list", "--repository", repo)
        assert sorted((e["tags"], e["reason"], e["deleted_by"]) for e in bin_) == [
            (["v1"], "lifecycle rule 10", "lifecycle"),
            (["v2"], "lifecycle rule 10", "lifecycle"),
        ]
    finally:
        registry.stop()
