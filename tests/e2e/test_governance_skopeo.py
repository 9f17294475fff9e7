"""Repository governance seen through skopeo: explicit creation, immutable tags (copy and
delete) and the ``latest`` warning.

Images come from one umoci layout built offline with two different images in it, so
"the same image" and "another image" are known digests. Assertions are on skopeo's own
error text as it prints it.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import ADMIN, AuthRegistry, start_registry
from tests.e2e.images import OCI_MANIFEST, Layout, build_image, init_layout, run
from tests.support import LiveServer, require_program

pytestmark = pytest.mark.e2e

CREDS = f"{ADMIN[0]}:{ADMIN[1]}"
# The warning Cargohold sends on a push of ``latest`` when the rule is ``warn``.
LATEST_WARNING = "tags named 'latest' move under deployments: prefer version tags"


@dataclass(frozen=True)
class Images:
    """An OCI layout holding two different images, tagged ``one`` and ``two``."""

    layout: Layout
    one: str
    two: str


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    layout = init_layout(tmp_path_factory.mktemp("governance-images") / "layout")
    one = build_image(layout, "one", {"hello.txt": f"one {uuid.uuid4()}\n".encode()})
    two = build_image(layout, "two", {"hello.txt": f"two {uuid.uuid4()}\n".encode()})
    assert one != two
    return Images(layout, one, two)


@dataclass
class Skopeo:
    """skopeo against one registry, with the administrator's credentials when it has
    accounts."""

    host: str
    creds: str | None

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(require_program("skopeo"), *args, check=check, timeout=60)

    def ref(self, name: str, tag: str) -> str:
        return f"docker://{self.host}/{name}:{tag}"

    def copy(
        self, source: str, name: str, tag: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        auth = ["--dest-creds", self.creds] if self.creds else []
        return self(
            "copy", "--dest-tls-verify=false", *auth, source, self.ref(name, tag), check=check
        )

    def digest(self, name: str, tag: str) -> str:
        auth = ["--creds", self.creds] if self.creds else []
        out = self("inspect", "--tls-verify=false", *auth, self.ref(name, tag)).stdout
        return str(json.loads(out)["Digest"])

    def delete(self, name: str, tag: str) -> subprocess.CompletedProcess[str]:
        auth = ["--creds", self.creds] if self.creds else []
        return self("delete", "--tls-verify=false", *auth, self.ref(name, tag), check=False)


def failed(result: subprocess.CompletedProcess[str]) -> str:
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    return said


@pytest.fixture(scope="module")
def explicit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A registry where repositories must be created before the first push (ECR)."""
    registry = start_registry(
        tmp_path_factory.mktemp("governance-skopeo"),
        CARGOHOLD_REPOSITORIES__CREATE_ON_PUSH="false",
    )
    yield registry
    registry.stop()


@pytest.fixture
def skopeo(explicit: AuthRegistry) -> Skopeo:
    return Skopeo(explicit.host, CREDS)


def create(registry: AuthRegistry, name: str, *options: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        registry.cli("repo", "create", name, *options, user=ADMIN).stdout
    )
    return doc


def new_name() -> str:
    return f"team/app-{uuid.uuid4().hex[:8]}"


# -- explicit creation ---------------------------------------------------------------


def test_copy_to_an_uncreated_repository_says_to_create_it(
    explicit: AuthRegistry, skopeo: Skopeo, images: Images
) -> None:
    name = new_name()
    said = failed(skopeo.copy(images.layout.ref("one"), name, "v1", check=False))
    # skopeo fails on the first blob upload, before any manifest.
    assert (
        f"initiating layer upload to /v2/{name}/blobs/uploads/ in {explicit.host}: "
        f"name unknown: repository {name} does not exist: this registry creates "
        f"repositories explicitly; run `cargohold repo create {name}` first"
    ) in said

    create(explicit, name)
    skopeo.copy(images.layout.ref("one"), name, "v1")
    assert skopeo.digest(name, "v1") == images.one


# -- immutable tags ------------------------------------------------------------------


def test_immutable_tag_refuses_another_image(
    explicit: AuthRegistry, skopeo: Skopeo, images: Images
) -> None:
    name = new_name()
    assert create(explicit, name, "--immutable")["tag_mutability"] == "IMMUTABLE"
    skopeo.copy(images.layout.ref("one"), name, "v1")

    said = failed(skopeo.copy(images.layout.ref("two"), name, "v1", check=False))
    assert (
        f"writing manifest: uploading manifest v1 to {explicit.host}/{name}: "
        f"denied: tag 'v1' in '{name}' is immutable; push a new tag, or pin the image by digest"
    ) in said

    skopeo.copy(images.layout.ref("one"), name, "v1")  # the same image again: fine
    skopeo.copy(images.layout.ref("two"), name, "v2")  # another image, a new tag: fine
    assert skopeo.digest(name, "v1") == images.one
    assert skopeo.digest(name, "v2") == images.two


def test_immutable_tag_cannot_be_deleted(
    explicit: AuthRegistry, skopeo: Skopeo, images: Images
) -> None:
    name = new_name()
    create(explicit, name, "--immutable")
    skopeo.copy(images.layout.ref("one"), name, "v1")

    # skopeo deletes the manifest by digest; the tag on it still fixes it.
    said = failed(skopeo.delete(name, "v1"))
    assert f"Failed to delete /v2/{name}/manifests/{images.one}" in said
    assert f"tag 'v1' in '{name}' is immutable (IMMUTABLE) and cannot be deleted" in said
    assert "(403 Forbidden)" in said
    assert skopeo.digest(name, "v1") == images.one

    # Deleting the tag itself is refused too.
    reply = httpx.delete(f"{explicit.url}/v2/{name}/manifests/v1", auth=ADMIN, timeout=30)
    assert reply.status_code == 403
    assert reply.json()["errors"][0]["code"] == "DENIED"
    assert skopeo.digest(name, "v1") == images.one


def test_excluded_tags_move_and_delete(
    explicit: AuthRegistry, skopeo: Skopeo, images: Images
) -> None:
    name = new_name()
    made = create(
        explicit, name, "--tag-mutability", "IMMUTABLE_WITH_EXCLUSION", "--exclude", "dev-*"
    )
    assert made["mutability_filters"] == ["dev-*"]
    skopeo.copy(images.layout.ref("one"), name, "v1")
    skopeo.copy(images.layout.ref("one"), name, "dev-1")
    skopeo.copy(images.layout.ref("two"), name, "dev-1")  # moves
    assert skopeo.digest(name, "dev-1") == images.two

    said = failed(skopeo.copy(images.layout.ref("two"), name, "v1", check=False))
    assert f"denied: tag 'v1' in '{name}' is immutable" in said

    deleted = skopeo.delete(name, "dev-1")
    assert deleted.returncode == 0, deleted.stderr
    gone = failed(
        skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            CREDS,
            skopeo.ref(name, "dev-1"),
            check=False,
        )
    )
    assert "manifest unknown" in gone
    assert skopeo.digest(name, "v1") == images.one


# -- the latest warning --------------------------------------------------------------


@pytest.fixture(scope="module")
def warning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A registry in setup mode (open to all) that warns on pushes of ``latest``."""
    server = LiveServer(
        tmp_path_factory.mktemp("governance-warn") / "data",
        env={"CARGOHOLD_REPOSITORIES__LATEST_TAG": "warn"},
    ).start()
    yield server
    server.stop()


def test_latest_warned_not_refused(warning_server: LiveServer, images: Images) -> None:
    skopeo = Skopeo(warning_server.host, None)
    name = new_name()
    copied = skopeo.copy(images.layout.ref("one"), name, "latest")
    assert skopeo.digest(name, "latest") == images.one
    # skopeo 1.9 (containers/image) ignores the Warning header of a manifest PUT:
    # it shows nothing of the warning to the user.
    said = copied.stdout + copied.stderr
    # (A warn-code "299 ..." as a word: digests in the output may hold "299".)
    assert "prefer version tags" not in said and not re.search(r"\b299 ", said), said
    assert "Writing manifest to image destination" in copied.stdout

    # The header is there for clients that do show it.
    manifest = images.layout.blob(images.one)
    url = f"{warning_server.url}/v2/{name}/manifests"
    headers = {"Content-Type": OCI_MANIFEST}
    put = httpx.put(f"{url}/latest", content=manifest, headers=headers, timeout=30)
    assert put.status_code == 201, put.text
    assert put.headers.get_list("Warning") == [f'299 - "{LATEST_WARNING}"']
    put = httpx.put(f"{url}/v1", content=manifest, headers=headers, timeout=30)
    assert put.status_code == 201, put.text
    assert "Warning" not in put.headers
