"""Uploads survive ``kill -9`` and broken clients: never a partial or wrong blob.

Each test runs its own ``cargohold serve`` (the `fresh_server` fixture), kills it
with SIGKILL at an awkward moment, restarts it on the same data folder and checks
what a client sees and what is on disk. Blob contents are generated a chunk at a
time from a seed, so neither side ever holds a large blob in memory.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.storage import layout
from cargohold.types import Digest
from tests.support import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KiB = 1024
MiB = 1024 * KiB
CHUNK = MiB
REPO = "durability/app"
TIMEOUT = httpx.Timeout(60.0)


# --- deterministic content ---------------------------------------------------------


@cache
def _pool() -> tuple[bytes, ...]:
    rng = random.Random(20240229)
    return tuple(rng.randbytes(CHUNK) for _ in range(8))


class Blob:
    """``size`` pseudo-random bytes from ``seed``, produced one 1 MiB chunk at a time.

    Chunk ``i`` is a block from a small random pool with its first 32 bytes replaced
    by ``sha256(seed, i)``, so every chunk differs (a misplaced chunk changes the
    digest) while generation runs at memcpy speed.
    """

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size

    def chunk(self, index: int) -> bytes:
        head = hashlib.sha256(f"{self.seed}:{index}".encode()).digest()
        pool = _pool()
        block = pool[(index + self.seed) % len(pool)]
        return (head + block[len(head) :])[: min(CHUNK, self.size - index * CHUNK)]

    def iter(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` in pieces of at most 1 MiB."""
        end = self.size if end is None else end
        position = start
        while position < end:
            index, skip = divmod(position, CHUNK)
            piece = self.chunk(index)[skip : skip + end - position]
            yield piece
            position += len(piece)

    def bytes(self, start: int, end: int) -> bytes:
        return b"".join(self.iter(start, end))

    @cached_property
    def digest(self) -> str:
        hasher = hashlib.sha256()
        for piece in self.iter():
            hasher.update(piece)
        return f"sha256:{hasher.hexdigest()}"

    def prefix_digest(self, size: int) -> str:
        hasher = hashlib.sha256()
        for piece in self.iter(0, size):
            hasher.update(piece)
        return f"sha256:{hasher.hexdigest()}"


def file_digest(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while piece := f.read(CHUNK):
            hasher.update(piece)
            size += len(piece)
    return f"sha256:{hasher.hexdigest()}", size


# --- the registry seen from outside ------------------------------------------------


def storage_path(server: LiveServer, spec: layout.PathSpec) -> Path:
    """Where the server keeps something: the layout module is the one authority."""
    return server.data_dir / "storage" / layout.path_for(spec).lstrip("/")


def upload_data_path(server: LiveServer, upload_id: str) -> Path:
    return storage_path(server, layout.UploadData(upload_id))


def uploads_on_disk(server: LiveServer) -> set[str]:
    root = storage_path(server, layout.UploadsRoot())
    return {p.name[: -len(".data")] for p in root.glob("*.data")} if root.is_dir() else set()


def blob_path(server: LiveServer, digest: str) -> Path:
    return storage_path(server, layout.BlobData(Digest.parse(digest)))


def error_codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def blob_url(digest: str, repo: str = REPO) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def start_upload(client: httpx.Client, repo: str = REPO) -> tuple[str, str]:
    """POST a new upload; its (Location, upload id)."""
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    return r.headers["Location"], r.headers["Docker-Upload-UUID"]


def upload_size(client: httpx.Client, location: str) -> int:
    """Bytes the registry holds for an upload, from the ``Range`` of a status GET."""
    r = client.get(location)
    assert r.status_code == 204, r.text
    first, _, last = r.headers["Range"].partition("-")
    assert first == "0", r.headers["Range"]
    # "0-0" is both "empty" and "one byte"; every upload checked here is larger.
    return int(last) + 1


def patch(client: httpx.Client, location: str, blob: Blob, start: int, end: int) -> httpx.Response:
    return client.patch(
        location,
        content=blob.iter(start, end),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(end - start),
            "Content-Range": f"{start}-{end - 1}",
        },
    )


def finish(
    client: httpx.Client, location: str, digest: str, blob: Blob | None = None, start: int = 0
) -> httpx.Response:
    """PUT ``?digest=``, with the rest of ``blob`` from ``start`` as the last chunk."""
    if blob is None or start == blob.size:
        return client.put(location, params={"digest": digest}, headers={"Content-Length": "0"})
    return client.put(
        location,
        params={"digest": digest},
        content=blob.iter(start),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(blob.size - start),
            "Content-Range": f"{start}-{blob.size - 1}",
        },
    )


def pull(client: httpx.Client, digest: str, repo: str = REPO) -> tuple[str, int]:
    """Stream a blob; its (sha256 digest, length)."""
    hasher = hashlib.sha256()
    size = 0
    with client.stream("GET", blob_url(digest, repo)) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            hasher.update(piece)
            size += len(piece)
    return f"sha256:{hasher.hexdigest()}", size


def assert_blob_correct(client: httpx.Client, server: LiveServer, blob: Blob) -> None:
    head = client.head(blob_url(blob.digest))
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == blob.size
    assert head.headers["Docker-Content-Digest"] == blob.digest
    assert pull(client, blob.digest) == (blob.digest, blob.size)
    assert file_digest(blob_path(server, blob.digest)) == (blob.digest, blob.size)


def assert_blob_absent(client: httpx.Client, server: LiveServer, digest: str) -> None:
    assert client.head(blob_url(digest)).status_code == 404
    r = client.get(blob_url(digest))
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]
    assert not blob_path(server, digest).parent.exists(), "a blob was stored for it"


def assert_serving(client: httpx.Client) -> None:
    assert client.get("/v2/").status_code == 200


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def kill_and_restart(server: LiveServer) -> None:
    """SIGKILL the server, then start it again on the same data folder and port."""
    assert server.process is not None
    server.stop(signal.SIGKILL)
    server.start()


class Background(threading.Thread):
    """Run one blocking request on a thread; keep its response or exception."""

    def __init__(self, call: Callable[[], httpx.Response]) -> None:
        super().__init__(daemon=True)
        self._call = call
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.response = self._call()
        except BaseException as exc:
            self.error = exc

    def outcome(self, timeout: float = 60.0) -> httpx.Response | BaseException:
        self.join(timeout)
        assert not self.is_alive(), "the request thread is stuck"
        if self.response is not None:
            return self.response
        assert self.error is not None
        return self.error


def held_open(
    pieces: Iterator[bytes], hold_after: int, release: threading.Event
) -> Iterator[bytes]:
    """Yield ``pieces``; after ``hold_after`` bytes wait (bounded) for ``release``.

    Keeps the request in flight until the test has killed the server, however fast
    the server drains the socket.
    """
    sent = 0
    for piece in pieces:
        yield piece
        sent += len(piece)
        if sent >= hold_after and not release.is_set():
            release.wait(30)


@pytest.fixture
def server(fresh_server: LiveServer) -> Iterator[LiveServer]:
    fresh_server.start()
    yield fresh_server
    fresh_server.stop()
    shutil.rmtree(fresh_server.data_dir / "storage", ignore_errors=True)


def client_for(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=TIMEOUT)


# --- 1. crash in the middle of a large streamed upload -----------------------------


def test_kill_during_streamed_patch_then_resume(server: LiveServer) -> None:
    blob = Blob(seed=1, size=200 * MiB)
    with client_for(server) as client:
        location, upload_id = start_upload(client)
    data_file = upload_data_path(server, upload_id)
    release = threading.Event()

    def send() -> httpx.Response:
        with client_for(server) as c:
            return c.patch(
                location,
                content=held_open(blob.iter(), 64 * MiB, release),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(blob.size),
                },
            )

    worker = Background(send)
    worker.start()
    wait_for(lambda: file_size(data_file) >= 16 * MiB, 30, "16 MiB of the upload on disk")
    assert server.process is not None
    server.stop(signal.SIGKILL)
    release.set()
    outcome = worker.outcome()
    assert not isinstance(outcome, httpx.Response), f"the PATCH finished: {outcome}"

    on_disk = file_size(data_file)
    assert 16 * MiB <= on_disk < blob.size
    # Whatever reached the disk is a true prefix of what was sent.
    assert file_digest(data_file) == (blob.prefix_digest(on_disk), on_disk)

    server.start()
    with client_for(server) as client:
        assert_blob_absent(client, server, blob.digest)
        received = upload_size(client, location)
        assert received == on_disk

        r = patch(client, location, blob, received, blob.size)
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{blob.size - 1}"
        r = finish(client, r.headers["Location"], blob.digest)
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == blob.digest
        assert r.headers["Location"].endswith(blob_url(blob.digest))

        assert_blob_correct(client, server, blob)
        assert upload_id not in uploads_on_disk(server)
        r = client.get(location)
        assert r.status_code == 404
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_kill_during_monolithic_post_then_start_over(server: LiveServer) -> None:
    blob = Blob(seed=2, size=128 * MiB)
    release = threading.Event()

    def send() -> httpx.Response:
        with client_for(server) as c:
            return c.post(
                f"/v2/{REPO}/blobs/uploads/",
                params={"digest": blob.digest},
                content=held_open(blob.iter(), 48 * MiB, release),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(blob.size),
                },
            )

    worker = Background(send)
    worker.start()
    orphan: list[str] = []

    def started() -> bool:
        for upload_id in uploads_on_disk(server):
            if file_size(upload_data_path(server, upload_id)) >= 16 * MiB:
                orphan.append(upload_id)
                return True
        return False

    wait_for(started, 30, "16 MiB of the monolithic upload on disk")
    assert server.process is not None
    server.stop(signal.SIGKILL)
    release.set()
    outcome = worker.outcome()
    assert not isinstance(outcome, httpx.Response), f"the POST finished: {outcome}"
    old_id = orphan[0]
    old_location = f"/v2/{REPO}/blobs/uploads/{old_id}"
    old_size = file_size(upload_data_path(server, old_id))

    server.start()
    with client_for(server) as client:
        assert_blob_absent(client, server, blob.digest)
        # The client never learnt the id, so it starts over: POST, then one PUT.
        location, upload_id = start_upload(client)
        assert upload_id != old_id
        r = finish(client, location, blob.digest, blob, 0)
        assert r.status_code == 201, r.text
        assert_blob_correct(client, server, blob)

        # The abandoned bytes belong to a request nobody can name: a monolithic
        # upload has no resumable session, so its id is unknown to the API and
        # finishing it cannot publish anything.
        assert old_size < blob.size
        r = client.get(old_location)
        assert r.status_code == 404, r.text
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
        r = finish(client, old_location, blob.digest)
        assert r.status_code == 404, r.text
        assert_blob_correct(client, server, blob)
        assert_serving(client)


# --- 2. crash between chunks, and around the final PUT -----------------------------


def test_kill_between_chunks_then_resume(server: LiveServer) -> None:
    blob = Blob(seed=3, size=40 * MiB + 12345)
    chunk = 8 * MiB
    with client_for(server) as client:
        location, upload_id = start_upload(client)
        for start in range(0, 3 * chunk, chunk):
            r = patch(client, location, blob, start, start + chunk)
            assert r.status_code == 202, r.text
            assert r.headers["Range"] == f"0-{start + chunk - 1}"
            location = r.headers["Location"]
    acknowledged = 3 * chunk

    kill_and_restart(server)
    with client_for(server) as client:
        assert_blob_absent(client, server, blob.digest)
        assert upload_size(client, location) == acknowledged

        # A chunk at the wrong offset is refused and changes nothing.
        r = patch(client, location, blob, 0, chunk)
        assert r.status_code == 416, r.text
        assert r.headers.get("Range") == f"0-{acknowledged - 1}"
        assert upload_size(client, location) == acknowledged

        r = patch(client, location, blob, acknowledged, acknowledged + chunk)
        assert r.status_code == 202, r.text
        r = finish(client, r.headers["Location"], blob.digest, blob, acknowledged + chunk)
        assert r.status_code == 201, r.text
        assert_blob_correct(client, server, blob)
        assert upload_id not in uploads_on_disk(server)


def test_kill_right_after_put_is_acknowledged(server: LiveServer) -> None:
    chunked = Blob(seed=4, size=32 * MiB + 1)
    monolithic = Blob(seed=5, size=16 * MiB - 1)
    with client_for(server) as client:
        location, _ = start_upload(client)
        r = patch(client, location, chunked, 0, 16 * MiB)
        assert r.status_code == 202, r.text
        r = finish(client, r.headers["Location"], chunked.digest, chunked, 16 * MiB)
        assert r.status_code == 201, r.text
        r = client.post(
            f"/v2/{REPO}/blobs/uploads/",
            params={"digest": monolithic.digest},
            content=monolithic.iter(),
            headers={"Content-Length": str(monolithic.size)},
        )
        assert r.status_code == 201, r.text

    # 201 means stored: a process crash (the kernel keeps its page cache) must not
    # lose or damage either blob.
    kill_and_restart(server)
    with client_for(server) as client:
        assert_blob_correct(client, server, chunked)
        assert_blob_correct(client, server, monolithic)
        assert uploads_on_disk(server) == set()


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.015, 0.06])
def test_kill_while_put_finishes(server: LiveServer, delay: float) -> None:
    """SIGKILL while the server verifies and publishes: blob correct, or absent."""
    blob = Blob(seed=6, size=48 * MiB)
    head = 24 * MiB
    with client_for(server) as client:
        location, upload_id = start_upload(client)
        r = patch(client, location, blob, 0, head)
        assert r.status_code == 202, r.text
    body_sent = threading.Event()

    def last_chunk() -> Iterator[bytes]:
        yield from blob.iter(head)
        body_sent.set()

    def send() -> httpx.Response:
        with client_for(server) as c:
            return c.put(
                location,
                params={"digest": blob.digest},
                content=last_chunk(),
                headers={
                    "Content-Length": str(blob.size - head),
                    "Content-Range": f"{head}-{blob.size - 1}",
                },
            )

    worker = Background(send)
    worker.start()
    assert body_sent.wait(30)
    time.sleep(delay)
    assert server.process is not None
    server.stop(signal.SIGKILL)
    outcome = worker.outcome()
    if isinstance(outcome, httpx.Response):
        assert outcome.status_code == 201, outcome.text

    # On disk, a blob at its final path is complete and correct, whatever the timing.
    stored = blob_path(server, blob.digest)
    if stored.exists():
        assert file_digest(stored) == (blob.digest, blob.size)

    server.start()
    with client_for(server) as client:
        assert_serving(client)
        head_status = client.head(blob_url(blob.digest)).status_code
        if isinstance(outcome, httpx.Response) or head_status == 200:
            assert_blob_correct(client, server, blob)
            return
        assert head_status == 404
        # Absent: the client can still get the blob in, by resuming or starting over.
        status = client.get(location)
        if status.status_code == 204:
            received = upload_size(client, location)
            assert received <= blob.size
            assert file_digest(upload_data_path(server, upload_id)) == (
                blob.prefix_digest(received),
                received,
            )
            r = finish(client, location, blob.digest, blob, received)
        else:
            assert status.status_code == 404
            assert error_codes(status) == ["BLOB_UPLOAD_UNKNOWN"]
            location, _ = start_upload(client)
            r = finish(client, location, blob.digest, blob, 0)
        assert r.status_code == 201, r.text
        assert_blob_correct(client, server, blob)


# --- 3. bad digests and bodies that stop short -------------------------------------


def assert_upload_unchanged_or_discarded(
    client: httpx.Client, server: LiveServer, location: str, upload_id: str, size: int
) -> None:
    r = client.get(location)
    if r.status_code == 404:
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]
        assert upload_id not in uploads_on_disk(server)
        return
    assert r.status_code == 204, r.text
    assert r.headers["Range"] == f"0-{size - 1}"
    assert file_size(upload_data_path(server, upload_id)) == size


def test_digest_mismatch_publishes_nothing(server: LiveServer) -> None:
    blob = Blob(seed=7, size=6 * MiB)
    wrong = Blob(seed=8, size=6 * MiB).digest
    with client_for(server) as client:
        location, upload_id = start_upload(client)
        r = patch(client, location, blob, 0, 4 * MiB)
        assert r.status_code == 202, r.text
        r = finish(client, location, wrong, blob, 4 * MiB)
        assert r.status_code == 400, r.text
        assert error_codes(r) == ["DIGEST_INVALID"]
        assert_serving(client)
        assert_blob_absent(client, server, wrong)
        assert_blob_absent(client, server, blob.digest)
        # Discarded, as distribution does, or left as it was before the last chunk.
        assert_upload_unchanged_or_discarded(client, server, location, upload_id, 4 * MiB)

        before = uploads_on_disk(server)
        r = client.post(
            f"/v2/{REPO}/blobs/uploads/",
            params={"digest": wrong},
            content=blob.iter(),
            headers={"Content-Length": str(blob.size)},
        )
        assert r.status_code == 400, r.text
        assert error_codes(r) == ["DIGEST_INVALID"]
        assert_serving(client)
        assert_blob_absent(client, server, wrong)
        assert_blob_absent(client, server, blob.digest)
        assert uploads_on_disk(server) <= before, "the failed monolithic upload was kept"


def send_truncated(
    server: LiveServer, method: str, url: str, blob: Blob, start: int, declared: int, sent: int
) -> Any:
    """Declare ``declared`` bytes from ``start``, send ``sent`` of them, hang up."""
    assert sent < declared
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(declared),
        "Content-Range": f"{start}-{start + declared - 1}",
    }
    with client_for(server) as c:
        try:
            return c.request(method, url, content=blob.iter(start, start + sent), headers=headers)
        except Exception as exc:  # httpx or h11 refuses to end a short body: it hangs up
            return exc


def test_truncated_bodies_are_rolled_back(server: LiveServer) -> None:
    blob = Blob(seed=9, size=20 * MiB)
    first = 4 * MiB
    with client_for(server) as client:
        location, upload_id = start_upload(client)
        r = patch(client, location, blob, 0, first)
        assert r.status_code == 202, r.text

        # A PATCH that stops 5 MiB short of its Content-Length.
        outcome = send_truncated(server, "PATCH", location, blob, first, 8 * MiB, 3 * MiB)
        if isinstance(outcome, httpx.Response):
            assert outcome.status_code >= 400, outcome.text
        assert_serving(client)
        wait_for(
            lambda: client.get(location).headers.get("Range") == f"0-{first - 1}",
            10,
            "the upload to be rolled back to its acknowledged size",
        )
        assert file_size(upload_data_path(server, upload_id)) == first
        assert_blob_absent(client, server, blob.digest)

        # A chunked-encoded PATCH (no length declared) whose sender dies mid-body.
        def dies() -> Iterator[bytes]:
            yield from blob.iter(first, first + 3 * MiB)
            raise ConnectionAbortedError("the client gave up")

        with client_for(server) as c, pytest.raises(ConnectionAbortedError):
            c.patch(location, content=dies())
        assert_serving(client)
        wait_for(
            lambda: client.get(location).headers.get("Range") == f"0-{first - 1}",
            10,
            "the upload to be rolled back to its acknowledged size",
        )
        assert file_size(upload_data_path(server, upload_id)) == first

        # A final PUT that stops short: same.
        outcome = send_truncated(
            server, "PUT", f"{location}?digest={blob.digest}", blob, first, blob.size - first, MiB
        )
        if isinstance(outcome, httpx.Response):
            assert outcome.status_code >= 400, outcome.text
        assert_serving(client)
        wait_for(
            lambda: client.get(location).headers.get("Range") == f"0-{first - 1}",
            10,
            "the upload to be rolled back to its acknowledged size",
        )
        assert file_size(upload_data_path(server, upload_id)) == first
        assert_blob_absent(client, server, blob.digest)

        # A monolithic POST that stops short leaves neither blob nor upload behind.
        before = uploads_on_disk(server)
        outcome = send_truncated(
            server,
            "POST",
            f"/v2/{REPO}/blobs/uploads/?digest={blob.digest}",
            blob,
            0,
            blob.size,
            7 * MiB,
        )
        if isinstance(outcome, httpx.Response):
            assert outcome.status_code >= 400, outcome.text
        assert_serving(client)
        wait_for(lambda: uploads_on_disk(server) == before, 10, "the failed upload's cleanup")
        assert_blob_absent(client, server, blob.digest)

        # The rolled-back upload carries on as if the broken requests never happened
        # (this also proves the server's running hash was rolled back).
        r = patch(client, location, blob, first, 12 * MiB)
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{12 * MiB - 1}"
        r = finish(client, location, blob.digest, blob, 12 * MiB)
        assert r.status_code == 201, r.text
        assert_blob_correct(client, server, blob)
