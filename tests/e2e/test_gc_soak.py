"""Garbage collection under load: a bounded soak on loopback.

One ``cargohold serve`` with two worker processes, its own schedule off, while for
``CARGOHOLD_SOAK_SECONDS`` (default 30):

* pushers upload new small images: a unique config, a unique layer, a layer from a
  pool every repository shares, and often the layer of an earlier image of the same
  repository. Blobs go up whole or in chunks; the manifest follows at once, or after
  a pause well inside the grace period;
* now and then a deleted image is rebuilt: a new image on the deleted one's layer,
  pushed into the same repository (delete the old tag, push the rebuild);
* pullers fetch random live images completely and check every digest;
* a deleter deletes an image now and then, by manifest digest: the recycle bin keeps
  it, and with a retention of zero the next round purges it, so there is garbage;
* ``cargohold gc --grace-seconds GRACE`` runs back to back as a separate process,
  as an operator would run it beside the server.

Afterwards no push that respected the grace period was refused, no live image lost
a blob, every live image pulls back completely, and once the grace period is over
a last round leaves exactly the blobs live manifests reference: their configs and
layers (manifest bytes live in the metadata database).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("CARGOHOLD_SOAK_SECONDS", "30"))
GRACE = 3.0  # seconds; pushes send their manifest well within it
SLOW_PAUSE = (1.0, 1.5)  # what a slow push waits between its blobs and its manifest
PUSHERS, PULLERS = 4, 3
REPOS = ("soak/alpha", "soak/beta", "soak/gamma")
CHUNK = 4096

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

SERVER_ENV = {
    "CARGOHOLD_HTTP__WORKERS": "2",
    "CARGOHOLD_GC__INTERVAL_SECONDS": "0",
    "CARGOHOLD_GOVERNANCE__LIFECYCLE_INTERVAL_SECONDS": "0",
    "CARGOHOLD_GOVERNANCE__TRASH_RETENTION_DAYS": "0",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def error_code(response: httpx.Response) -> str:
    """The first OCI error code of a response, else its status."""
    try:
        return str(response.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP_{response.status_code}"


class Failed(Exception):
    """A request answered with an error; ``code`` is its OCI error code."""

    def __init__(self, what: str, response: httpx.Response) -> None:
        self.code = error_code(response)
        self.response = response
        super().__init__(f"{what}: {response.status_code} {self.code} {response.text[:300]}")


class PushRefusedWithinGrace(AssertionError):
    """A push that sent its manifest within the grace period got MANIFEST_BLOB_UNKNOWN."""


@dataclass
class Image:
    repo: str
    tag: str
    digest: str
    manifest: bytes
    blobs: tuple[str, ...]  # config first, then the layers
    unique_layer: str
    pushed_at: float  # time.time() the manifest was accepted
    deleted_at: float | None = None  # set before the DELETE is sent

    @property
    def name(self) -> str:
        return f"{self.repo}:{self.tag}"


@dataclass
class Refusal:
    """A push refused with MANIFEST_BLOB_UNKNOWN although it kept to the grace period."""

    repo: str
    tag: str
    error: str
    missing: list[str]
    uploaded: dict[str, float]  # blob -> time.time() its upload finished
    sent: float  # time.time() the manifest was sent


@dataclass
class Soak:
    server: LiveServer
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    images: list[Image] = field(default_factory=list)
    content: dict[str, bytes] = field(default_factory=dict)  # every blob ever pushed
    origin: dict[str, str] = field(default_factory=dict)  # blob -> what first used it
    rebuilds: queue.Queue[Image] = field(default_factory=queue.Queue)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "<operation>:<code>"
    details: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)  # MANIFEST_BLOB_UNKNOWN within grace
    gc_reports: list[dict[str, Any]] = field(default_factory=list)
    last_write: float = 0.0  # time.time() of the last blob or manifest upload
    push_seconds: list[float] = field(default_factory=list)

    def client(self) -> httpx.Client:
        # No keep-alive: every request opens a connection, so they spread over
        # both workers.
        return httpx.Client(
            base_url=self.server.url,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=httpx.Timeout(30.0),
        )

    def error(self, operation: str, code: str, detail: str) -> None:
        with self.lock:
            self.errors[f"{operation}:{code}"] += 1
            if len(self.details) < 200:
                self.details.append(f"{time.time():.3f} {operation}:{code} {detail}")

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def wrote(self) -> None:
        with self.lock:
            self.last_write = max(self.last_write, time.time())

    # -- pushing ----------------------------------------------------------------------

    def upload(self, http: httpx.Client, repo: str, data: bytes, chunked: bool) -> None:
        digest = sha256(data)
        self.wrote()
        if not chunked:
            r = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
            if r.status_code != 201:
                raise Failed(f"monolithic upload of {digest} to {repo}", r)
            self.wrote()
            return
        r = http.post(f"/v2/{repo}/blobs/uploads/")
        if r.status_code != 202:
            raise Failed(f"starting an upload to {repo}", r)
        location = r.headers["Location"]
        last = (len(data) - 1) // CHUNK * CHUNK
        for start in range(0, last, CHUNK):
            r = http.patch(
                location,
                content=data[start : start + CHUNK],
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + CHUNK - 1}",
                },
            )
            if r.status_code != 202:
                raise Failed(f"chunk of {digest} to {repo}", r)
            location = r.headers["Location"]
        r = http.put(
            location,
            params={"digest": digest},
            content=data[last:],
            headers={"Content-Range": f"{last}-{len(data) - 1}"},
        )
        if r.status_code != 201:
            raise Failed(f"last chunk of {digest} to {repo}", r)
        self.wrote()

    def push(
        self,
        http: httpx.Client,
        rng: random.Random,
        repo: str,
        tag: str,
        layers: list[bytes],
        slow: bool,
    ) -> None:
        """Push one image: its blobs, perhaps a pause, then the manifest."""
        config = json.dumps({"architecture": "amd64", "tag": tag, "id": uuid.uuid4().hex}).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)} for x in layers
                ],
            }
        ).encode()
        with self.lock:
            self.content[sha256(config)] = config
            self.origin[sha256(config)] = f"config of {repo}:{tag}"
            for layer in layers:
                self.content[sha256(layer)] = layer
                self.origin.setdefault(sha256(layer), f"unique layer of {repo}:{tag}")
        started = time.monotonic()
        uploaded: dict[str, float] = {}
        sent = 0.0
        try:
            for blob in (config, *layers):
                self.upload(http, repo, blob, chunked=len(blob) > CHUNK and rng.random() < 0.5)
                uploaded[sha256(blob)] = time.time()
            if slow:
                time.sleep(rng.uniform(*SLOW_PAUSE))
            self.wrote()
            sent = time.time()
            r = http.put(
                f"/v2/{repo}/manifests/{tag}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
            self.wrote()
            took = time.monotonic() - started
            if r.status_code != 201:
                raise Failed(f"manifest {repo}:{tag} {sha256(manifest)} after {took:.2f}s", r)
        except Failed as exc:
            self.error("push", exc.code, str(exc))
            if exc.code == "MANIFEST_BLOB_UNKNOWN" and time.monotonic() - started < GRACE:
                self.explain_refusal(repo, tag, exc, uploaded, sent)
            return
        except httpx.HTTPError as exc:
            self.error("push", type(exc).__name__, f"{repo}:{tag} {exc!r}")
            return
        assert r.headers["Docker-Content-Digest"] == sha256(manifest)
        image = Image(
            repo,
            tag,
            sha256(manifest),
            manifest,
            tuple(sha256(b) for b in (config, *layers)),
            sha256(layers[0]),
            time.time(),
        )
        with self.lock:
            self.images.append(image)
            self.counts["pushes"] += 1
            self.counts["slow pushes"] += slow
            self.push_seconds.append(took)

    def explain_refusal(
        self, repo: str, tag: str, exc: Failed, uploaded: dict[str, float], sent: float
    ) -> None:
        """Note what a refused push's missing blobs were, to explain once GC is done."""
        missing = exc.response.json()["errors"][0].get("detail", {}).get("missing", [])
        with self.lock:
            self.refused.append(Refusal(repo, tag, str(exc), missing, uploaded, sent))

    def explain(self, refusal: Refusal) -> str:
        """A refused push, the images its missing blobs came from, and the GC rounds
        that ran while it was under way."""
        lines = [f"push of {refusal.repo}:{refusal.tag}: {refusal.error}"]
        for digest in refusal.missing:
            again = refusal.uploaded.get(digest, refusal.sent)
            lines.append(
                f"  {digest}: {self.origin.get(digest)}; uploaded again by this push at "
                f"{again:.3f}, {refusal.sent - again:.2f}s before its manifest"
            )
            for image in self.images:
                used = image.repo == refusal.repo and digest in image.blobs
                if used and image.pushed_at < refusal.sent:
                    deleted = f"deleted at {image.deleted_at:.3f}" if image.deleted_at else "live"
                    lines.append(
                        f"    used by {image.name} {image.digest}, pushed at "
                        f"{image.pushed_at:.3f}, {deleted}"
                    )
        first = min(refusal.uploaded.values(), default=refusal.sent)
        for report in self.gc_reports:
            if report["started"] < refusal.sent and report["finished"] > first:
                lines.append(
                    f"  gc round run {report['started']:.3f}-{report['finished']:.3f}: "
                    f"{report['trash_purged']} purged, {report['links_removed']} links and "
                    f"{report['blobs_deleted']} blobs removed; manifest sent at "
                    f"{refusal.sent:.3f}"
                )
        return "\n".join(lines)

    def pusher(self, index: int, shared: list[bytes]) -> None:
        rng = random.Random(f"pusher-{index}")
        with self.client() as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                layers = [rng.randbytes(rng.randint(1024, 6 * CHUNK)), rng.choice(shared)]
                try:
                    old = self.rebuilds.get_nowait()
                except queue.Empty:
                    old = None
                if old is not None:
                    # Delete the old tag, push the rebuild on its layer.
                    repo, slow = old.repo, True
                    layers.append(self.content[old.unique_layer])
                    self.count("rebuild pushes")
                else:
                    repo, slow = rng.choice(REPOS), rng.random() < 0.1
                    with self.lock:
                        earlier = [i for i in self.images[-60:] if i.repo == repo]
                    if earlier and rng.random() < 0.5:
                        reused = self.content[rng.choice(earlier).unique_layer]
                        if reused not in layers:
                            layers.append(reused)
                self.push(http, rng, repo, f"p{index}-{n}", layers, slow)
                time.sleep(rng.uniform(0, 0.05))

    # -- pulling, deleting, collecting ------------------------------------------------

    def pull(self, http: httpx.Client, image: Image, by_tag: bool) -> None:
        """Fetch the manifest and every blob of ``image``; raise `Failed` or AssertionError."""
        reference = image.tag if by_tag else image.digest
        r = http.get(f"/v2/{image.repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        if r.status_code != 200:
            raise Failed(f"manifest {image.repo}@{reference}", r)
        assert r.content == image.manifest, f"{image.repo}@{reference}: other manifest bytes"
        assert r.headers["Docker-Content-Digest"] == image.digest
        for digest in image.blobs:
            r = http.get(f"/v2/{image.repo}/blobs/{digest}")
            if r.status_code != 200:
                raise Failed(f"blob {digest} of {image.repo}@{image.digest}", r)
            assert sha256(r.content) == digest, f"{image.repo}: blob {digest} has other bytes"

    def puller(self, index: int) -> None:
        rng = random.Random(f"puller-{index}")
        with self.client() as http:
            while not self.stop.is_set():
                with self.lock:
                    live = [i for i in self.images if i.deleted_at is None]
                if not live:
                    time.sleep(0.05)
                    continue
                image = rng.choice(live)
                try:
                    self.pull(http, image, by_tag=rng.random() < 0.5)
                except Failed as exc:
                    with self.lock:
                        raced = image.deleted_at is not None
                    if raced:
                        self.count("pulls that raced their image's delete")
                    else:
                        self.error("pull", exc.code, str(exc))
                    continue
                except httpx.HTTPError as exc:
                    self.error("pull", type(exc).__name__, f"{image.repo}@{image.digest} {exc!r}")
                    continue
                self.count("pulls")

    def deleter(self) -> None:
        rng = random.Random("deleter")
        with self.client() as http:
            while not self.stop.wait(rng.uniform(0.3, 0.8)):
                with self.lock:
                    live = [i for i in self.images if i.deleted_at is None]
                    if len(live) < 5:
                        continue
                    image = rng.choice(live)
                    image.deleted_at = time.time()  # before the request: pullers know
                try:
                    r = http.delete(f"/v2/{image.repo}/manifests/{image.digest}")
                except httpx.HTTPError as exc:
                    self.error("delete", type(exc).__name__, f"{image.repo}@{image.digest} {exc!r}")
                    continue
                if r.status_code != 202:
                    self.error("delete", error_code(r), f"{image.repo}@{image.digest} {r.text}")
                    continue
                self.count("deletes")
                if rng.random() < 0.7:
                    self.rebuilds.put(image)

    def gc_loop(self) -> None:
        while not self.stop.is_set():
            report = run_gc(self.server.data_dir, GRACE)
            if "error" in report:
                self.error("gc", "FAILED", report["error"])
                self.stop.wait(0.5)
                continue
            with self.lock:
                self.gc_reports.append(report)


def run_gc(data_dir: Path, grace: float) -> dict[str, Any]:
    """One `cargohold gc` round as its own process; its JSON report, or {"error": ...}."""
    env = {**os.environ, **SERVER_ENV}
    env.pop("CARGOHOLD_CONFIG", None)
    started = time.time()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cargohold",
                "gc",
                "--data-dir",
                str(data_dir),
                "--grace-seconds",
                str(grace),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        return {"error": f"timed out: {exc.stderr!r}"}
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr[-2000:]}"}
    report: dict[str, Any] = json.loads(done.stdout)
    report.update(started=started, finished=time.time())
    return report


def stored_blobs(data_dir: Path) -> set[str]:
    """Digests whose bytes are stored: files, and small blobs kept in the database."""
    root = data_dir / "storage" / "v1" / "blobs"
    files = {
        f"{algorithm.name}:{path.name}"
        for algorithm in root.iterdir()
        for path in algorithm.glob("*/*")
        if path.is_file()
    }
    with contextlib.closing(sqlite3.connect(data_dir / "metadata.db")) as db:
        rows = {digest for (digest,) in db.execute("SELECT digest FROM blob_contents")}
    return files | rows


def run_threads(targets: list[tuple[str, Callable[[], None]]], soak: Soak) -> list[str]:
    """Run the workers for the soak's duration; names of any that failed or hung."""
    crashed: list[str] = []

    def guarded(name: str, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test
            crashed.append(f"{name}: {exc!r}")

    threads = [
        threading.Thread(target=guarded, args=(name, target), name=name, daemon=True)
        for name, target in targets
    ]
    for thread in threads:
        thread.start()
    soak.stop.wait(SOAK_SECONDS)
    soak.stop.set()
    deadline = time.monotonic() + 60  # a GC round or a slow push finishing
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    return crashed + [f"{t.name}: still running" for t in threads if t.is_alive()]


def test_gc_soak_with_concurrent_pushes_pulls_and_deletes(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env=SERVER_ENV)
    server.start()
    soak = Soak(server)
    try:
        shared_rng = random.Random("shared")
        shared = [shared_rng.randbytes(shared_rng.randint(512, 3 * CHUNK)) for _ in range(6)]
        soak.origin.update({sha256(layer): f"shared layer {k}" for k, layer in enumerate(shared)})
        workers: list[tuple[str, Callable[[], None]]] = [
            *((f"pusher-{i}", lambda i=i: soak.pusher(i, shared)) for i in range(PUSHERS)),
            *((f"puller-{i}", lambda i=i: soak.puller(i)) for i in range(PULLERS)),
            ("deleter", soak.deleter),
            ("gc", soak.gc_loop),
        ]
        problems = run_threads(workers, soak)
        assert not problems, problems

        live = [i for i in soak.images if i.deleted_at is None]
        rounds = soak.gc_reports
        stats = {
            **soak.counts,
            "live images": len(live),
            "gc rounds": len(rounds),
            "gc trash purged": sum(r["trash_purged"] for r in rounds),
            "gc links removed": sum(r["links_removed"] for r in rounds),
            "gc blobs deleted": sum(r["blobs_deleted"] for r in rounds),
            "longest push (s)": round(max(soak.push_seconds, default=0), 2),
            "errors": dict(soak.errors),
        }
        print(f"\nsoak of {SOAK_SECONDS:.0f}s: {json.dumps(stats)}")
        explained = [soak.explain(refusal) for refusal in soak.refused]
        for text in explained:
            print(text)
        detail = "\n".join(soak.details[:50])
        # Refusals of pushes that took longer than the grace period are fair; any
        # other error is not.
        unexpected = {
            key: n for key, n in soak.errors.items() if key != "push:MANIFEST_BLOB_UNKNOWN"
        }
        assert not unexpected, detail
        assert len(soak.refused) <= soak.errors["push:MANIFEST_BLOB_UNKNOWN"]
        assert soak.counts["pushes"] >= 20 and soak.counts["pulls"] >= 20, stats
        assert soak.counts["deletes"] >= 3, stats
        assert stats["gc blobs deleted"] > 0, f"GC never deleted anything: {stats}"

        # Every live image, whole, after all that.
        with soak.client() as http:
            for image in live:
                soak.pull(http, image, by_tag=False)

        # Once the grace period is over, one more round leaves exactly what live
        # manifests reference.
        time.sleep(max(0.0, soak.last_write + GRACE + 1 - time.time()))
        final = run_gc(server.data_dir, GRACE)
        assert "error" not in final, final
        print(f"final gc round: {json.dumps(final)}")
        wanted = {digest for image in live for digest in image.blobs}
        stored = stored_blobs(server.data_dir)
        assert not wanted - stored, f"needed blobs deleted: {sorted(wanted - stored)[:20]}"
        assert not stored - wanted, f"garbage left behind: {sorted(stored - wanted)[:20]}"
        held = server.data_dir / "storage" / "v1" / "gc"
        assert not held.exists() or not any(held.iterdir()), list(held.iterdir())
        with soak.client() as http:
            for image in live:
                soak.pull(http, image, by_tag=True)

        # Last, as the known failure: a push that kept to the grace period was refused.
        if soak.refused:
            raise PushRefusedWithinGrace("\n\n".join(explained[:5]))
    except BaseException:
        soak.stop.set()
        print(server.log()[-5000:])
        raise
    finally:
        soak.stop.set()
        server.stop()


def test_rebuild_on_a_just_deleted_image_layer_survives_a_gc_round(tmp_path: Path) -> None:
    """Delete an image, push its rebuild on the same layer, and let one GC round run
    between the rebuild's blobs and its manifest, well inside the grace period."""
    from datetime import timedelta

    from cargohold.cli.admin import run_local
    from cargohold.config import GovernanceSettings, Settings

    grace = 1.0
    server = LiveServer(tmp_path / "data", env={**SERVER_ENV, "CARGOHOLD_HTTP__WORKERS": "1"})
    server.start()
    settings = Settings(
        data_dir=server.data_dir, governance=GovernanceSettings(trash_retention_days=0)
    )
    repo = "rebuild/app"
    base = random.Random("base").randbytes(3000)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:

            def push_blobs(*blobs: bytes) -> None:
                for blob in blobs:
                    r = http.post(
                        f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
                    )
                    assert r.status_code == 201, r.text

            def put(tag: str, config: bytes) -> httpx.Response:
                manifest = json.dumps(
                    {
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {
                            "mediaType": OCI_CONFIG,
                            "digest": sha256(config),
                            "size": len(config),
                        },
                        "layers": [
                            {"mediaType": OCI_LAYER, "digest": sha256(base), "size": len(base)}
                        ],
                    }
                ).encode()
                return http.put(
                    f"/v2/{repo}/manifests/{tag}",
                    content=manifest,
                    headers={"Content-Type": OCI_MANIFEST},
                )

            old_config = b'{"version": 1}'
            push_blobs(old_config, base)
            r = put("v1", old_config)
            assert r.status_code == 201, r.text
            time.sleep(grace + 0.5)  # the image is older than the grace period
            r = http.delete(f"/v2/{repo}/manifests/{r.headers['Docker-Content-Digest']}")
            assert r.status_code == 202, r.text

            # Once first, so the round below need not import and set up anything.
            run_local(settings, lambda reg: reg.gc.run(dry_run=True))

            new_config = b'{"version": 2}'
            started = time.monotonic()
            push_blobs(new_config, base)  # the rebuild uploads every blob again
            report = run_local(settings, lambda reg: reg.gc.run(grace=timedelta(seconds=grace)))
            r = put("v2", new_config)
            took = time.monotonic() - started
            assert took < grace, f"the rebuild took {took:.2f}s, not within the grace period"
            if r.status_code != 201:
                raise PushRefusedWithinGrace(
                    f"rebuild refused {took:.2f}s after its first blob, a GC round "
                    f"({report.links_removed} links removed) between: {r.status_code} {r.text}"
                )
            assert sha256(base) not in report.deleted
    finally:
        server.stop()
