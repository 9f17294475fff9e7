"""Names cannot leave their namespace by encoding tricks, against a real server.

curl sends each path exactly as written (``--path-as-is``), so the server's own
decoding is what is tested, not the client's normalisation.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer, require_program

pytestmark = pytest.mark.e2e

ADMIN = ("root", "root-password-1")
ALICE = ("alice", "alice-password-1")
BOB = ("bob", "bob-password-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("hostile") / "data",
        env={"CARGOHOLD_AUTH__BOOTSTRAP_ADMIN": ":".join(ADMIN)},
    ).start()
    for name, password in (ALICE, BOB):
        r = httpx.post(
            f"{live.url}/api/v1/users", json={"name": name, "password": password}, auth=ADMIN
        )
        assert r.status_code == 201, r.text
    # alice/secret is private and holds one blob.
    blob = b"alice's secret layer"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    r = httpx.post(
        f"{live.url}/v2/alice/secret/blobs/uploads/",
        params={"digest": digest},
        content=blob,
        auth=ALICE,
    )
    assert r.status_code == 201, r.text
    r = httpx.put(
        f"{live.url}/api/v1/repositories/alice/secret/visibility",
        json={"visibility": "private"},
        auth=ALICE,
    )
    assert r.status_code == 200, r.text
    live.env["DIGEST"] = digest
    yield live
    live.stop()


def curl(server: LiveServer, path: str, user: tuple[str, str] | None) -> tuple[int, str]:
    args = [require_program("curl"), "-s", "--path-as-is", "-o", "-", "-w", "\n%{http_code}"]
    if user:
        args += ["-u", ":".join(user)]
    done = subprocess.run(
        [*args, f"{server.url}{path}"], capture_output=True, text=True, check=True, timeout=30
    )
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


@pytest.mark.parametrize(
    "template",
    [
        "/v2/bob/../alice/secret/blobs/{d}",
        "/v2/bob/%2E%2E/alice/secret/blobs/{d}",
        "/v2/bob%2F..%2Falice/secret/blobs/{d}",
        "/v2/bob/..%2Falice/secret/blobs/{d}",
        "/v2/alice%2Fsecret/blobs/{d}",
        "/v2/ALICE/secret/blobs/{d}",
        "/v2/alice/secret/./blobs/{d}",
        "/v2//alice/secret/blobs/{d}",
        "/v2/bob/app/../../alice/secret/blobs/{d}",
        "/v2/%61lice/secret/blobs/{d}",
        "/v2/alice/secret%00/blobs/{d}",
        "/v2/alice\u2044secret/blobs/{d}",
    ],
)
def test_bob_never_reads_alices_private_blob(server: LiveServer, template: str) -> None:
    digest = server.env["DIGEST"]
    path = template.format(d=digest)
    code, body = curl(server, path, BOB)
    assert code in (400, 401, 403, 404), (path, code, body)
    assert "secret layer" not in body
    if body.strip().startswith("{"):
        assert json.loads(body)["errors"][0]["code"] in (
            "NAME_INVALID",
            "DENIED",
            "UNAUTHORIZED",
            "UNSUPPORTED",
            "BLOB_UNKNOWN",
            "NAME_UNKNOWN",
        )


def test_the_owner_reads_it_and_the_decoded_name_is_the_same_repository(
    server: LiveServer, tmp_path: Path
) -> None:
    digest = server.env["DIGEST"]
    code, body = curl(server, f"/v2/alice/secret/blobs/{digest}", ALICE)
    assert (code, body) == (200, "alice's secret layer")
    # %61 is "a": the server decodes before it authorises, so both checks see one name.
    code, _ = curl(server, f"/v2/%61lice/secret/blobs/{digest}", BOB)
    assert code == 403
    code, body = curl(server, f"/v2/%61lice/secret/blobs/{digest}", ALICE)
    assert code == 200
