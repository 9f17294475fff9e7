"""Hosted PyPI repositories driven by the real clients: twine and ``uv publish``
upload, pip (in fresh virtualenvs) and ``uv pip`` install, against a live server.

Covered: wheels and sdists round-trip byte for byte and the installed code is the
uploaded code; PEP 658 metadata is what pip resolves from; wheels with hundreds of
extras (one form field per metadata line); the same file may be uploaded again but
other bytes under its name may not (and what ``--skip-existing`` and ``uv publish
--check-url`` make of that) unless the write policy allows redeploys; Requires-Python;
yanking through the CLI; name normalisation; private repositories, strangers, robots
and ``__token__``; and refused uploads (wrong digest, a filename for another project,
over the size limit) that leave nothing behind, not even a staging file.

Each test makes its own user and repository on the module's server; the size
limit needs a server of its own. pip runs in fresh virtualenvs copied from one
template (see `fresh_venv`); uv makes its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import AuthRegistry, start_registry
from tests.e2e.packages import (
    installed_value,
    make_sdist,
    make_wheel,
    normalize,
    pip_install,
    require_client,
    twine_upload,
    uv_pip_install,
    uv_publish,
    wheel_value,
)

pytestmark = pytest.mark.e2e

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
# The environment a client must not see: the machine's pip, uv and twine settings
# (this machine's pip configuration adds extra indexes).
_CLIENT_ENV = re.compile(r"^(PIP_|UV_|TWINE_|PYTHON_KEYRING)", re.IGNORECASE)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("pypi"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def venv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pristine virtualenv with the interpreter's bundled pip, made once."""
    path = tmp_path_factory.mktemp("venv-template") / "venv"
    env = {k: v for k, v in os.environ.items() if not _CLIENT_ENV.match(k)}
    subprocess.run([sys.executable, "-m", "venv", path], env=env, check=True, timeout=300)
    return path


@pytest.fixture
def fresh_venv(venv_template: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A new, empty virtualenv under the test's directory: a copy of the template,
    because ``python -m venv`` runs ensurepip, seconds per venv on a busy machine.
    A copy is a venv of its own (``sys.prefix`` follows where ``bin/python`` is, and
    pip is always run as ``bin/python -m pip``)."""

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(venv_template, target, symlinks=True)
        return target

    return make


# -- helpers --------------------------------------------------------------------------


def create_repo(registry: AuthRegistry, owner: tuple[str, str], **extra: str) -> tuple[str, str]:
    """A PyPI repository of the test's own, made by ``owner``: (name, upload URL)."""
    name = f"py-{uuid.uuid4().hex[:10]}"
    with registry.api(owner) as api:
        reply = api.post("/package-repositories", json={"name": name, "format": "pypi", **extra})
    assert reply.status_code == 201, reply.text
    return name, f"{registry.url}/repository/{name}/"


def index_url(registry: AuthRegistry, repo: str, user: tuple[str, str] | None = None) -> str:
    """The ``--index-url`` pip and uv are given, with credentials in it when ``user``."""
    creds = f"{user[0]}:{user[1]}@" if user is not None else ""
    return f"http://{creds}{registry.host}/repository/{repo}/simple/"


def project_json(
    registry: AuthRegistry, repo: str, project: str, user: tuple[str, str] | None
) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/repository/{repo}/simple/{project}/",
        auth=user,
        headers={"Accept": SIMPLE_JSON},
        timeout=30,
    )


def served_files(
    registry: AuthRegistry, repo: str, project: str, user: tuple[str, str]
) -> dict[str, dict[str, Any]]:
    """The PEP 691 files of ``project``, by filename."""
    reply = project_json(registry, repo, project, user)
    assert reply.status_code == 200, reply.text
    return {f["filename"]: f for f in reply.json()["files"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: dict[str, dict[str, str | None]] = {}
        self._attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self.anchors[data.strip()] = self._attrs
            self._attrs = None


def html_anchors(page: str) -> dict[str, dict[str, str | None]]:
    """A PEP 503 page's anchors' attributes, by link text (the filename)."""
    parser = _Anchors()
    parser.feed(page)
    return parser.anchors


def isolated_env(home: Path) -> dict[str, str]:
    """The environment minus PIP_/UV_/TWINE_ settings, with HOME, caches and
    keyring of the client's own."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not _CLIENT_ENV.match(k)}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        UV_CACHE_DIR=str(home / "uv-cache"),
        UV_NO_CONFIG="1",
    )
    return env


def client(
    program: str, *args: str | os.PathLike[str], home: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run twine or uv with flags the harness helpers do not pass, with the same
    isolation (`isolated_env`)."""
    argv = [require_client(program), *(os.fspath(a) for a in args)]
    result = subprocess.run(
        argv, env=isolated_env(home), capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def current_pip_install(
    venv: Path, index: str, requirement: str
) -> subprocess.CompletedProcess[str]:
    """Install with the pip of the interpreter running the tests (``pip --python``),
    which is newer than the one a fresh venv is born with."""
    env = isolated_env(venv.parent / ".current-pip-home")
    argv = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    argv += ["--isolated", "--no-cache-dir", "--no-input", "--disable-pip-version-check"]
    argv += ["--index-url", index, requirement]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (
        f"{argv} exited {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result


def twine_verbose(
    url: str, user: tuple[str, str], *files: Path, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``twine upload --verbose``: only then does twine print the server's message
    (without it, just the status line, e.g. ``409 Conflict``)."""
    return client(
        "twine",
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--verbose",
        *extra,
        "--repository-url",
        url,
        "-u",
        user[0],
        "-p",
        user[1],
        *files,
        home=files[0].parent / ".twine-home",
        check=False,
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    # twine's rich output wraps long lines; join them back for matching.
    return re.sub(r"\s+", " ", result.stdout + result.stderr)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    text = said(result)
    assert result.returncode != 0, text
    for word in words:
        assert word in text, text
    return text


def assert_nothing_stored(registry: AuthRegistry, data: Path | bytes) -> None:
    """No blob with these bytes' digest, and no staging file left in the uploads area."""
    content = data.read_bytes() if isinstance(data, Path) else data
    hexdigest = hashlib.sha256(content).hexdigest()
    storage = registry.server.data_dir / "storage" / "v1"
    assert not (storage / "blobs" / "sha256" / hexdigest[:2] / hexdigest).exists()
    uploads = storage / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), list(uploads.iterdir())


def with_payload(wheel: Path, size: int) -> Path:
    """``wheel`` grown by ``size`` incompressible bytes (stored, so the file grows too)."""
    with zipfile.ZipFile(wheel, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{wheel.name.split('-')[0]}/payload.bin", os.urandom(size))
    return wheel


def with_metadata_lines(wheel: Path, lines: list[str]) -> Path:
    """``wheel`` with ``lines`` added to its METADATA headers (and RECORD to match)."""
    with zipfile.ZipFile(wheel) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = next(n for n in members if n.endswith(".dist-info/METADATA"))
    head, _, body = members[metadata].decode().partition("\n\n")
    members[metadata] = ("\n".join([head, *lines]) + "\n\n" + body).encode()
    record = next(n for n in members if n.endswith(".dist-info/RECORD"))
    rows = []
    for name, data in members.items():
        if name != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append(f"{name},sha256={digest.decode()},{len(data)}")
    members[record] = ("\n".join([*rows, f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name)


# -- 1. twine and pip -------------------------------------------------------------------


def test_twine_upload_then_pip_install_uses_metadata(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("pyowner")
    repo, url = create_repo(registry, owner)
    wheel = make_wheel(tmp_path / "dist", "twine-demo", "1.0")
    sdist = make_sdist(tmp_path / "dist", "twine-demo", "1.0")

    uploaded = twine_upload(url, *owner, wheel, sdist)
    assert f"Uploading {wheel.name}" in uploaded.stdout
    assert f"Uploading {sdist.name}" in uploaded.stdout

    files = served_files(registry, repo, "twine-demo", owner)
    assert set(files) == {wheel.name, sdist.name}
    page_url = httpx.URL(f"{registry.url}/repository/{repo}/simple/twine-demo/")
    for path in (wheel, sdist):
        entry = files[path.name]
        assert entry["hashes"] == {"sha256": sha256(path)}
        assert entry["size"] == path.stat().st_size
        # Both files come back byte for byte from the (relative) URL the index gives.
        download = httpx.get(page_url.join(entry["url"]), auth=owner, timeout=30)
        assert download.status_code == 200 and download.content == path.read_bytes()
    assert files[sdist.name]["core-metadata"] is False  # only wheels have .metadata

    # The venv's own pip (the one Python bundles, 23.2 for 3.11.7), and the current
    # pip of the test run's environment installing into another fresh venv.
    venv = fresh_venv("venv")
    bundled = pip_install(venv, index_url(registry, repo, owner), "twine-demo")
    assert installed_value(venv, "twine-demo") == wheel_value(wheel)
    current_venv = fresh_venv("current")
    current = current_pip_install(current_venv, index_url(registry, repo, owner), "twine-demo")
    assert installed_value(current_venv, "twine-demo") == wheel_value(wheel)
    for installed in (bundled, current):
        # pip resolved from the PEP 658 file instead of downloading the wheel first.
        assert f"{wheel.name}.metadata" in installed.stdout, installed.stdout

    # The .metadata is the wheel's own METADATA, and its hash is the one both index
    # forms announce (PEP 714's data-core-metadata and the older name in HTML).
    page = httpx.get(f"{registry.url}/repository/{repo}/simple/twine-demo/", auth=owner)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    anchor = html_anchors(page.text)[wheel.name]
    href = anchor["href"]
    assert href is not None and href.endswith(f"#sha256={sha256(wheel)}")
    metadata = httpx.get(str(page.url.join(href.split("#")[0])) + ".metadata", auth=owner)
    assert metadata.status_code == 200 and metadata.content == wheel_metadata(wheel)
    announced = f"sha256={hashlib.sha256(metadata.content).hexdigest()}"
    assert anchor["data-core-metadata"] == announced
    assert anchor["data-dist-info-metadata"] == announced
    assert files[wheel.name]["core-metadata"] == {"sha256": announced.split("=", 1)[1]}


# -- 2. uv --------------------------------------------------------------------------------


def test_uv_publish_then_uv_pip_install(registry: AuthRegistry, tmp_path: Path) -> None:
    owner = registry.create_user("uvowner")
    repo, url = create_repo(registry, owner)
    wheel = make_wheel(tmp_path / "dist", "uv-demo", "1.0")
    sdist = make_sdist(tmp_path / "dist", "uv-demo", "1.0")

    published = uv_publish(url, *owner, wheel, sdist)
    assert f"Uploading {wheel.name}" in published.stderr, published.stderr
    files = served_files(registry, repo, "uv-demo", owner)
    assert {name: f["hashes"]["sha256"] for name, f in files.items()} == {
        wheel.name: sha256(wheel),
        sdist.name: sha256(sdist),
    }
    # uv always sends requires_python, empty when there is none: not a specifier.
    assert files[wheel.name]["requires-python"] is None

    venv = tmp_path / "uv-venv"
    uv_pip_install(venv, index_url(registry, repo, owner), "uv-demo")
    assert installed_value(venv, "uv-demo") == wheel_value(wheel)

    # The same files again are fine; --check-url asks the index first and skips them.
    uv_publish(url, *owner, wheel, sdist)
    simple = f"{registry.url}/repository/{repo}/simple/"
    check = ("--check-url", simple, "-u", owner[0], "-p", owner[1])
    home = tmp_path / "uv-home"
    skipped = client("uv", "publish", "--publish-url", url, *check, wheel, home=home)
    assert f"{wheel.name} already exists, skipping" in skipped.stderr, skipped.stderr

    # Other bytes under the same name: the server refuses, and so does --check-url
    # before uploading, having compared the index's sha256 with the local file's.
    other = make_wheel(tmp_path / "other", "uv-demo", "1.0")
    refused(uv_publish(url, *owner, other, check=False), "409", "File already exists")
    compared = client("uv", "publish", "--publish-url", url, *check, other, home=home, check=False)
    refused(compared, "do not match", sha256(wheel))
    assert served_files(registry, repo, "uv-demo", owner)[wheel.name]["hashes"]["sha256"] == (
        sha256(wheel)
    )


def test_wheel_with_hundreds_of_extras(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    """twine and uv send one form field per Requires-Dist, Provides-Extra and
    Classifier: a wheel with many extras (types-boto3 has 400+) is a big form."""
    owner = registry.create_user("extras")
    repo, url = create_repo(registry, owner)
    lines = [f"Classifier: Framework :: Example :: {i}" for i in range(40)]
    for i in range(300):
        lines += [f"Provides-Extra: x{i}", f"Requires-Dist: dep{i}>=1.0; extra == 'x{i}'"]
    first = with_metadata_lines(make_wheel(tmp_path / "one", "extras-pkg", "1.0"), lines)
    second = with_metadata_lines(make_wheel(tmp_path / "two", "extras-pkg", "2.0"), lines)
    twine_upload(url, *owner, first)
    uv_publish(url, *owner, second)

    venv = fresh_venv("venv")
    pip_install(venv, index_url(registry, repo, owner), "extras-pkg==1.0")
    assert installed_value(venv, "extras-pkg") == wheel_value(first)
    metadata = httpx.get(
        f"{registry.url}/repository/{repo}/packages/extras-pkg/{second.name}.metadata",
        auth=owner,
    )
    assert metadata.content == wheel_metadata(second)
    assert metadata.text.count("Provides-Extra: ") == 300


# -- 3. uploading a file again ------------------------------------------------------------


def test_same_file_again_is_accepted_other_bytes_are_not(
    registry: AuthRegistry, tmp_path: Path
) -> None:
    owner = registry.create_user("again")
    repo, url = create_repo(registry, owner)
    wheel = make_wheel(tmp_path / "first", "again-pkg", "1.0")
    sdist = make_sdist(tmp_path / "first", "again-pkg", "1.0")
    twine_upload(url, *owner, wheel, sdist)
    # As on PyPI, the identical file again is a success (no --skip-existing needed).
    twine_upload(url, *owner, wheel, sdist)

    other = make_wheel(tmp_path / "second", "again-pkg", "1.0")
    assert other.name == wheel.name and sha256(other) != sha256(wheel)
    refused(twine_verbose(url, owner, other), "409 Conflict", f"File already exists: {other.name}")
    files = served_files(registry, repo, "again-pkg", owner)
    assert files[wheel.name]["hashes"]["sha256"] == sha256(wheel)
    assert_nothing_stored(registry, other)

    skip = twine_verbose(url, owner, other, extra=("--skip-existing",))
    if "UnsupportedConfiguration" in said(skip):
        # twine 6.1 and later allow --skip-existing only for pypi.org and test.pypi.org
        # and refuse before sending anything.
        refused(skip, "--skip-existing")
    else:  # older twine takes the 409 as "already there"
        assert skip.returncode == 0, said(skip)
        assert "Skipping" in said(skip)
    files = served_files(registry, repo, "again-pkg", owner)
    assert files[wheel.name]["hashes"]["sha256"] == sha256(wheel)


def test_write_policies_allow_and_readonly(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("policy")
    repo, url = create_repo(registry, owner, write_policy="allow")
    wheel = make_wheel(tmp_path / "first", "policy-pkg", "1.0")
    twine_upload(url, *owner, wheel)
    # "allow" (redeploy) lets other bytes replace the file; installers get the new ones.
    other = make_wheel(tmp_path / "second", "policy-pkg", "1.0")
    twine_upload(url, *owner, other)
    entry = served_files(registry, repo, "policy-pkg", owner)[other.name]
    assert entry["hashes"]["sha256"] == sha256(other)
    venv = fresh_venv("venv")
    pip_install(venv, index_url(registry, repo, owner), "policy-pkg")
    assert installed_value(venv, "policy-pkg") == wheel_value(other)

    with registry.api(owner) as api:
        reply = api.patch(f"/package-repositories/{repo}", json={"write_policy": "readonly"})
    assert reply.status_code == 200, reply.text
    later = make_wheel(tmp_path / "third", "policy-pkg", "2.0")
    refused(twine_verbose(url, owner, later), "403 Forbidden", "read-only")
    assert set(served_files(registry, repo, "policy-pkg", owner)) == {other.name}


# -- 4. Requires-Python --------------------------------------------------------------------


def test_pip_skips_a_release_for_another_python(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("rp")
    repo, url = create_repo(registry, owner)
    old = make_wheel(tmp_path / "dist", "rp-pkg", "1.0", requires_python=">=3.8")
    new = make_wheel(tmp_path / "dist", "rp-pkg", "2.0", requires_python=">=3.99")
    twine_upload(url, *owner, old, new)

    files = served_files(registry, repo, "rp-pkg", owner)
    assert files[new.name]["requires-python"] == ">=3.99"
    venv = fresh_venv("venv")
    index = index_url(registry, repo, owner)
    pip_install(venv, index, "rp-pkg")
    assert installed_value(venv, "rp-pkg") == wheel_value(old)
    # Asked for outright, 2.0 is refused by pip with the reason.
    pinned = pip_install(venv, index, "rp-pkg==2.0", check=False)
    refused(pinned, "Requires-Python >=3.99")


# -- 5. yanking ----------------------------------------------------------------------------


def test_yanked_release_is_skipped_unless_pinned(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("yank")
    repo, url = create_repo(registry, owner)
    old = make_wheel(tmp_path / "dist", "yank-pkg", "0.9")
    new = make_wheel(tmp_path / "dist", "yank-pkg", "1.0")
    sdist = make_sdist(tmp_path / "dist", "yank-pkg", "1.0")
    twine_upload(url, *owner, old, new, sdist)

    yanked = registry.cli(
        "package", "yank", repo, "yank-pkg", "1.0", "--reason", "broken build", user=owner
    )
    assert json.loads(yanked.stdout) == {"files": 2}  # the wheel and the sdist
    files = served_files(registry, repo, "yank-pkg", owner)
    assert files[new.name]["yanked"] == "broken build"
    assert files[old.name]["yanked"] is False

    venv = fresh_venv("venv")
    index = index_url(registry, repo, owner)
    pip_install(venv, index, "yank-pkg")
    assert installed_value(venv, "yank-pkg") == wheel_value(old)
    pinned = pip_install(venv, index, "yank-pkg==1.0")
    assert installed_value(venv, "yank-pkg") == wheel_value(new)
    warning = said(pinned)
    assert "yanked version" in warning and "Reason for being yanked: broken build" in warning

    registry.cli("package", "unyank", repo, "yank-pkg", "1.0", user=owner)
    assert served_files(registry, repo, "yank-pkg", owner)[new.name]["yanked"] is False
    pip_install(venv, index, "yank-pkg==0.9")
    again = pip_install(venv, index, "yank-pkg", "--upgrade")
    assert installed_value(venv, "yank-pkg") == wheel_value(new)
    assert "yanked version" not in said(again), said(again)  # the tmp path says "yanked"


# -- 6. names -------------------------------------------------------------------------------


def test_project_names_are_normalised(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("names")
    repo, url = create_repo(registry, owner)
    wheel = make_wheel(tmp_path / "dist", "Hello.Cargo_pkg", "1.0")
    twine_upload(url, *owner, wheel)

    venv = fresh_venv("venv")
    pip_install(venv, index_url(registry, repo, owner), "hello-cargo-pkg")
    assert installed_value(venv, "Hello.Cargo_pkg") == wheel_value(wheel)

    base = f"{registry.url}/repository/{repo}/simple"
    moved = httpx.get(f"{base}/Hello.Cargo_pkg/", auth=owner)
    assert moved.status_code == 301
    assert moved.headers["location"].endswith(f"/repository/{repo}/simple/hello-cargo-pkg/")
    root = httpx.get(f"{base}/", auth=owner)
    assert html_anchors(root.text)["hello-cargo-pkg"]["href"] == "hello-cargo-pkg/"
    doc = project_json(registry, repo, normalize("Hello.Cargo_pkg"), owner).json()
    assert doc["name"] == "hello-cargo-pkg" and doc["versions"] == ["1.0"]


# -- 7. who may read and write --------------------------------------------------------------


def test_private_repository_strangers_and_robots(
    registry: AuthRegistry, tmp_path: Path, fresh_venv: Callable[[str], Path]
) -> None:
    owner = registry.create_user("priv")
    org = registry.create_org(owner)
    private, private_url = create_repo(registry, owner, namespace=org, visibility="private")
    public, public_url = create_repo(registry, owner, namespace=org, visibility="public")
    first = make_wheel(tmp_path / "one", "team-pkg", "1.0")
    twine_upload(private_url, *owner, first)
    twine_upload(public_url, *owner, first)

    # Anonymous: pip gets a 401 without a way to log in, and finds no versions.
    anonymous = pip_install(
        fresh_venv("anon"), index_url(registry, private), "team-pkg", check=False
    )
    refused(anonymous, "from versions: none")
    file_url = f"{registry.url}/repository/{private}/packages/team-pkg/{first.name}"
    assert httpx.get(file_url).status_code == 401
    assert httpx.get(file_url + ".metadata").status_code == 401

    # A stranger does not learn the private repository exists; on the public one
    # they may read but not write.
    stranger = registry.create_user("stranger")
    second = make_wheel(tmp_path / "two", "team-pkg", "2.0")
    refused(twine_upload(private_url, *stranger, second, check=False), "404 Not Found")
    refused(twine_upload(public_url, *stranger, second, check=False), "403 Forbidden")
    refused(twine_upload(private_url, "", "", second, check=False), "401 Unauthorized")
    assert_nothing_stored(registry, second)

    reader = registry.create_robot(owner, org, "reader", f"{org}/{private}:pull")
    refused(twine_upload(private_url, *reader, second, check=False), "403 Forbidden")
    pusher = registry.create_robot(owner, org, "ci", f"{org}/{private}:pull,push")
    twine_upload(private_url, *pusher, second)
    # PyPI's token convention works too (what `uv publish --token` sends).
    third = make_wheel(tmp_path / "three", "team-pkg", "3.0")
    twine_upload(private_url, "__token__", pusher[1], third)
    assert set(served_files(registry, private, "team-pkg", owner)) == {
        first.name,
        second.name,
        third.name,
    }

    venv = fresh_venv("reader")
    pip_install(venv, index_url(registry, private, reader), "team-pkg")
    assert installed_value(venv, "team-pkg") == wheel_value(third)

    # The public repository needs no login to install from.
    open_venv = fresh_venv("public")
    pip_install(open_venv, index_url(registry, public), "team-pkg")
    assert installed_value(open_venv, "team-pkg") == wheel_value(first)


# -- 8. refused uploads ----------------------------------------------------------------------


def upload_form(
    name: str, version: str, filename: str, data: bytes, **extra: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """The form twine sends, built by hand so a test can get it wrong."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        **extra,
    }
    return fields, {"content": (filename, data, "application/octet-stream")}


def test_bad_uploads_are_refused_and_leave_nothing(registry: AuthRegistry, tmp_path: Path) -> None:
    owner = registry.create_user("bad")
    repo, url = create_repo(registry, owner)
    wheel = make_wheel(tmp_path / "dist", "bad-pkg", "1.0")
    data = wheel.read_bytes()

    fields, files = upload_form("bad-pkg", "1.0", wheel.name, data, sha256_digest="0" * 64)
    reply = httpx.post(url, data=fields, files=files, auth=owner, timeout=30)
    assert reply.status_code == 400 and "sha256_digest does not match" in reply.text
    assert project_json(registry, repo, "bad-pkg", owner).status_code == 404
    assert_nothing_stored(registry, data)

    # A filename for another project or version than the form says.
    for name, version in (("other-pkg", "1.0"), ("bad-pkg", "2.0")):
        fields, files = upload_form(name, version, wheel.name, data)
        reply = httpx.post(url, data=fields, files=files, auth=owner, timeout=30)
        assert reply.status_code == 400 and "the filename" in reply.text, reply.text
    # twine names the project from METADATA, so a renamed wheel is caught the same way.
    renamed = wheel.rename(wheel.with_name("renamed_pkg-1.0-py3-none-any.whl"))
    refused(twine_verbose(url, owner, renamed), "400 Bad Request", "is for project 'renamed-pkg'")
    for project in ("bad-pkg", "other-pkg", "renamed-pkg"):
        assert project_json(registry, repo, project, owner).status_code == 404
    assert_nothing_stored(registry, data)


def test_uploads_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    limited = start_registry(tmp_path / "limited", CARGOHOLD_PACKAGES__MAX_FILE_BYTES="200000")
    try:
        owner = limited.create_user("limit")
        repo, url = create_repo(limited, owner)
        small = make_wheel(tmp_path / "small", "small-pkg", "1.0")
        twine_upload(url, *owner, small)  # the limit leaves ordinary uploads alone

        # Over the limit: found out while streaming (the form's size is in range).
        big = with_payload(make_wheel(tmp_path / "big", "big-pkg", "1.0"), 300_000)
        refused(twine_verbose(url, owner, big), "400", "larger than the 200000-byte limit")
        refused(uv_publish(url, *owner, big, check=False), "larger than the 200000-byte limit")
        # Far over: refused on Content-Length alone, before the body is read.
        huge = with_payload(make_wheel(tmp_path / "huge", "huge-pkg", "1.0"), 2_000_000)
        refused(twine_verbose(url, owner, huge), "400", "larger than the 200000-byte limit")

        for project, path in (("big-pkg", big), ("huge-pkg", huge)):
            assert project_json(limited, repo, project, owner).status_code == 404
            assert_nothing_stored(limited, path)
        assert served_files(limited, repo, "small-pkg", owner)[small.name]["size"] == (
            small.stat().st_size
        )
    finally:
        limited.stop()
