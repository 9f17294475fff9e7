"""Repository governance seen through docker: repositories created explicitly first (as
ECR), tags that cannot move, the ``latest`` rule, namespace templates and deleting a
repository with ``cargohold repo``.

Each test asserts on what docker itself prints to the user (its exit status and the
registry's error message as docker relays it), and on what the ``cargohold`` CLI says.
The CLI acts as the administrator that ``tests.e2e.accounts.start_registry`` makes;
docker is logged in as that administrator with a docker config of the module's own.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e.accounts import ADMIN, AuthRegistry, start_registry
from tests.e2e.images import DOCKER_MANIFEST, run

if TYPE_CHECKING:
    from tests.e2e.conftest import Docker

pytestmark = pytest.mark.e2e

PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")
# A refusal takes docker well under a second; a push that docker retries takes 15 s
# or more per layer. PROMPT_SECONDS tells the two apart, PUSH_TIMEOUT stops a hang.
PROMPT_SECONDS = 10
PUSH_TIMEOUT = 60


@dataclass
class Site:
    """A live registry, the CLI acting as its administrator, and docker logged in."""

    registry: AuthRegistry
    docker: Docker
    workdir: Path

    @property
    def host(self) -> str:
        return self.registry.host

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.registry.cli(*args, user=ADMIN, check=check)

    def describe(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.cli("repo", "describe", name).stdout)
        return doc

    def build(self, ref: str) -> tuple[str, bytes]:
        """``docker build`` a FROM scratch image holding /hello.txt: (image ID, content)."""
        content = f"{ref} {uuid.uuid4()}\n".encode()
        context = self.workdir / f"ctx-{uuid.uuid4().hex[:8]}"
        context.mkdir(parents=True)
        (context / "hello.txt").write_bytes(content)
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n'
        )
        self.docker("build", "-q", "-t", ref, str(context))
        image_id = self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
        return image_id, content

    def push(self, ref: str) -> str:
        """A push that must succeed; the manifest digest docker reports."""
        out = self.docker("push", ref, timeout=PUSH_TIMEOUT).stdout
        match = PUSHED.search(out)
        assert match, out
        return match.group(1)

    def refused_push(self, ref: str) -> str:
        """A push that must fail, and promptly; everything docker printed."""
        started = time.monotonic()
        result = self.docker("push", ref, check=False, timeout=PUSH_TIMEOUT)
        elapsed = time.monotonic() - started
        said = result.stdout + result.stderr
        assert result.returncode != 0, said
        assert elapsed < PROMPT_SECONDS, f"docker took {elapsed:.1f} s to give up:\n{said}"
        return said

    def pull_content(self, ref: str, digest: str) -> bytes:
        """Drop every local copy of ``ref``, pull it, check it is ``digest``, and read
        /hello.txt out of it."""
        image_id = self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
        self.docker("image", "rm", "-f", image_id)
        out = self.docker("pull", ref, timeout=PUSH_TIMEOUT).stdout
        assert f"Digest: {digest}" in out, out
        container = self.docker("create", ref).stdout.strip()
        try:
            target = self.workdir / f"copied-{uuid.uuid4().hex[:8]}"
            self.docker("cp", f"{container}:/hello.txt", str(target))
            return target.read_bytes()
        finally:
            self.docker("rm", container)


def open_site(
    docker: Docker, tmp_path_factory: pytest.TempPathFactory, label: str, **env: str
) -> Site:
    base = tmp_path_factory.mktemp(label)
    registry = start_registry(base, **env)
    client = replace(docker, env={**docker.env, "DOCKER_CONFIG": str(base / "docker-config")})
    try:
        login = run(
            client.cli,
            "login",
            registry.host,
            "-u",
            ADMIN[0],
            "--password-stdin",
            env=client.env,
            stdin=ADMIN[1] + "\n",
            timeout=60,
        )
        assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
    except BaseException:
        registry.stop()
        raise
    return Site(registry, client, base / "work")


@pytest.fixture(scope="module")
def explicit(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A registry where repositories must be created before the first push (ECR)."""
    site = open_site(
        docker,
        tmp_path_factory,
        "governance-explicit",
        CARGOHOLD_REPOSITORIES__CREATE_ON_PUSH="false",
    )
    yield site
    site.registry.stop()


@pytest.fixture(scope="module")
def on_push(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A registry that creates repositories on push and refuses the tag ``latest``."""
    site = open_site(
        docker, tmp_path_factory, "governance-on-push", CARGOHOLD_REPOSITORIES__LATEST_TAG="refuse"
    )
    yield site
    site.registry.stop()


def new_name(namespace: str = "team", label: str = "app") -> str:
    return f"{namespace}/{label}-{uuid.uuid4().hex[:8]}"


def immutable_message(tag: str, name: str) -> str:
    return (
        f"denied: tag '{tag}' in '{name}' is immutable; push a new tag, or pin the image by digest"
    )


def set_template(site: Site, namespace: str, template: dict[str, Any]) -> dict[str, Any]:
    """A namespace template set through the management API, as the administrator."""
    with site.registry.api(ADMIN) as api:
        reply = api.put(f"/namespaces/{namespace}/template", json=template)
    assert reply.status_code == 200, reply.text
    doc: dict[str, Any] = reply.json()
    return doc


# -- explicit creation ---------------------------------------------------------------


def test_push_to_an_uncreated_repository_says_to_create_it(explicit: Site) -> None:
    name = new_name()
    ref = f"{explicit.host}/{name}:v1"
    _, content = explicit.build(ref)

    said = explicit.refused_push(ref)
    assert (
        f"name unknown: repository {name} does not exist: this registry creates "
        f"repositories explicitly; run `cargohold repo create {name}` first"
    ) in said

    made = json.loads(explicit.cli("repo", "create", name).stdout)
    assert made["name"] == name
    assert made["tag_mutability"] == "MUTABLE"
    assert made["manifest_count"] == 0

    digest = explicit.push(ref)
    assert explicit.pull_content(ref, digest) == content
    described = explicit.describe(name)
    assert (described["manifest_count"], described["tag_count"]) == (1, 1)


def test_creating_a_repository_twice_is_refused(explicit: Site) -> None:
    name = new_name()
    explicit.cli("repo", "create", name)
    again = explicit.cli("repo", "create", name, check=False)
    assert again.returncode != 0
    assert f"409: repository {name} exists" in again.stderr


# -- tag mutability ------------------------------------------------------------------


def test_immutable_tag_refuses_another_image_and_accepts_the_same(explicit: Site) -> None:
    name = new_name()
    made = json.loads(explicit.cli("repo", "create", name, "--immutable").stdout)
    assert made["tag_mutability"] == "IMMUTABLE"
    ref = f"{explicit.host}/{name}:v1"
    first_id, first = explicit.build(ref)
    digest = explicit.push(ref)

    explicit.build(ref)  # another image, now tagged v1 locally
    said = explicit.refused_push(ref)
    assert immutable_message("v1", name) in said

    # What the message suggests works: the new image under a new tag.
    explicit.docker("tag", ref, f"{explicit.host}/{name}:v2")
    assert explicit.push(f"{explicit.host}/{name}:v2") != digest

    # The first image pushed again as v1 is no move at all.
    explicit.docker("tag", first_id, ref)
    assert explicit.push(ref) == digest
    assert explicit.pull_content(ref, digest) == first


def test_immutable_with_exclusion_lets_only_the_excluded_tags_move(explicit: Site) -> None:
    name = new_name()
    made = json.loads(
        explicit.cli(
            "repo",
            "create",
            name,
            "--tag-mutability",
            "IMMUTABLE_WITH_EXCLUSION",
            "--exclude",
            "dev-*",
        ).stdout
    )
    assert (made["tag_mutability"], made["mutability_filters"]) == (
        "IMMUTABLE_WITH_EXCLUSION",
        ["dev-*"],
    )
    dev, release = f"{explicit.host}/{name}:dev-1", f"{explicit.host}/{name}:v1"
    first_id, _ = explicit.build(dev)
    explicit.docker("tag", first_id, release)
    first = explicit.push(dev)
    assert explicit.push(release) == first

    second_id, second_content = explicit.build(dev)
    moved = explicit.push(dev)
    assert moved != first
    assert explicit.pull_content(dev, moved) == second_content

    explicit.docker("tag", second_id, release)
    said = explicit.refused_push(release)
    assert immutable_message("v1", name) in said
    head = httpx.head(
        f"{explicit.registry.url}/v2/{name}/manifests/v1",
        auth=ADMIN,
        headers={"Accept": DOCKER_MANIFEST},
        timeout=30,
    )
    assert head.headers["Docker-Content-Digest"] == first


def test_tag_mutability_can_be_changed_on_an_existing_repository(explicit: Site) -> None:
    name = new_name()
    explicit.cli("repo", "create", name)
    ref = f"{explicit.host}/{name}:v1"
    explicit.build(ref)
    explicit.push(ref)

    changed = json.loads(explicit.cli("repo", "tag-mutability", name, "IMMUTABLE").stdout)
    assert changed["tag_mutability"] == "IMMUTABLE"
    explicit.build(ref)
    assert immutable_message("v1", name) in explicit.refused_push(ref)

    explicit.cli("repo", "tag-mutability", name, "MUTABLE")
    explicit.push(ref)


# -- the latest rule -----------------------------------------------------------------


def test_latest_refused_by_the_server_rule(on_push: Site) -> None:
    name = new_name("apps")
    latest = f"{on_push.host}/{name}:latest"
    image_id, _ = on_push.build(latest)

    said = on_push.refused_push(latest)
    assert (
        f"denied: the tag 'latest' is not allowed in {name}: push a version tag and pin "
        "deployments by digest"
    ) in said

    # A version tag of the same image goes through.
    on_push.docker("tag", image_id, f"{on_push.host}/{name}:1.0")
    on_push.push(f"{on_push.host}/{name}:1.0")


def test_latest_refused_by_a_namespace_template(explicit: Site) -> None:
    """The server allows ``latest``; the namespace's template refuses it."""
    namespace = f"edge-{uuid.uuid4().hex[:6]}"
    explicit.cli("org", "create", namespace)
    assert set_template(explicit, namespace, {"latest_tag": "refuse"})["latest_tag"] == "refuse"
    other = new_name()
    explicit.cli("repo", "create", other)

    name = f"{namespace}/app"
    assert json.loads(explicit.cli("repo", "create", name).stdout)["latest_tag"] == "refuse"
    latest = f"{explicit.host}/{name}:latest"
    image_id, _ = explicit.build(latest)
    said = explicit.refused_push(latest)
    assert f"denied: the tag 'latest' is not allowed in {name}" in said

    # Outside the namespace, the server's rule (allow) holds.
    explicit.docker("tag", image_id, f"{explicit.host}/{other}:latest")
    explicit.push(f"{explicit.host}/{other}:latest")


# -- namespace templates -------------------------------------------------------------


def test_namespace_template_applies_to_repositories_created_after_it(on_push: Site) -> None:
    namespace = f"team-{uuid.uuid4().hex[:6]}"
    org = json.loads(on_push.cli("org", "create", namespace).stdout)
    assert org["name"] == namespace
    old, new = f"{namespace}/old", f"{namespace}/new"
    old_ref, new_ref = f"{on_push.host}/{old}:v1", f"{on_push.host}/{new}:v1"
    on_push.build(old_ref)
    on_push.push(old_ref)  # created on push, before the template

    template = set_template(on_push, namespace, {"tag_mutability": "IMMUTABLE"})
    assert template["tag_mutability"] == "IMMUTABLE"
    on_push.build(new_ref)
    on_push.push(new_ref)  # created on push, with the template

    assert on_push.describe(new)["tag_mutability"] == "IMMUTABLE"
    assert on_push.describe(old)["tag_mutability"] == "MUTABLE"

    on_push.build(new_ref)
    assert immutable_message("v1", new) in on_push.refused_push(new_ref)
    on_push.docker("tag", new_ref, old_ref)
    on_push.push(old_ref)  # the older repository's tags still move


def test_namespace_template_command(on_push: Site) -> None:
    namespace = f"team-{uuid.uuid4().hex[:6]}"
    on_push.cli("org", "create", namespace)
    set_by_cli = on_push.cli(
        "namespace-template", namespace, "--tag-mutability", "IMMUTABLE", "--latest", "warn"
    )
    template = json.loads(set_by_cli.stdout)
    assert (template["tag_mutability"], template["latest_tag"]) == ("IMMUTABLE", "warn")
    ref = f"{on_push.host}/{namespace}/new:v1"
    on_push.build(ref)
    on_push.push(ref)
    assert on_push.describe(f"{namespace}/new")["tag_mutability"] == "IMMUTABLE"


# -- deleting repositories -----------------------------------------------------------


def test_repo_delete_needs_force_when_it_holds_images(explicit: Site) -> None:
    name = new_name()
    explicit.cli("repo", "create", name)
    ref = f"{explicit.host}/{name}:v1"
    explicit.build(ref)
    explicit.push(ref)

    kept = explicit.cli("repo", "delete", name, check=False)
    assert kept.returncode != 0
    assert (
        f"409: repository {name} holds 1 manifest(s); delete them first or use --force"
        in kept.stderr
    )
    assert explicit.describe(name)["manifest_count"] == 1

    gone = explicit.cli("repo", "delete", name, "--force")
    assert f"deleted repository {name}" in gone.stdout
    described = explicit.cli("repo", "describe", name, check=False)
    assert described.returncode != 0
    assert f"no repository named '{name}'" in described.stderr

    explicit.docker("image", "rm", "-f", ref)
    pulled = explicit.docker("pull", ref, check=False, timeout=PUSH_TIMEOUT)
    assert pulled.returncode != 0
    assert (
        f"repository {explicit.host}/{name} not found: name unknown: "
        "repository name not known to registry"
    ) in pulled.stderr
    # Gone means gone: with explicit creation, pushing there again needs a new create.
    explicit.build(ref)
    assert f"run `cargohold repo create {name}` first" in explicit.refused_push(ref)


def test_repo_delete_force_takes_immutable_tags_along(explicit: Site) -> None:
    """As ECR's delete-repository --force: a repository with images needs --force,
    and then its immutable tags go with it."""
    name = new_name()
    explicit.cli("repo", "create", name, "--immutable")
    ref = f"{explicit.host}/{name}:v1"
    explicit.build(ref)
    explicit.push(ref)

    kept = explicit.cli("repo", "delete", name, check=False)
    assert kept.returncode != 0
    assert "use --force" in kept.stderr
    assert f"deleted repository {name}" in explicit.cli("repo", "delete", name, "--force").stdout
