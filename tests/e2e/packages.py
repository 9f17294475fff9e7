"""Build and publish small Maven, npm and Python packages with the real clients.

Every helper writes only below the directory it is given (settings, local Maven
repository, npm cache, HOME, virtualenvs), so no test reads or changes the real
home directory's ``~/.m2``, ``~/.npmrc``, pip configuration or caches. Artifacts
are built offline: jars and Python distributions with ``zipfile``/``tarfile``, and
Maven plugins come from Debian's ``/usr/share/maven-repo``.

What the clients send, in short (the recon report has the full request lists):

- mvn PUTs jar, ``.sha1``, ``.md5``, pom, ``.sha1``, ``.md5`` (a project deploy: pom
  first), then GETs ``maven-metadata.xml`` (and its ``.sha1`` when found) and PUTs it
  back with checksums. PUTs carry Basic auth preemptively and ``Expect: 100-continue``;
  a GET is sent without auth first and repeated after the 401.
- npm PUTs the whole packument with base64 ``_attachments`` to ``/NAME`` (scoped:
  ``/@scope%2fname``), always with the ``.npmrc`` credentials; ``npm install`` reads the
  packument with ``Accept: application/json`` and GETs ``dist.tarball`` as given.
- twine and uv POST ``multipart/form-data`` to the repository URL itself; pip and uv
  read ``/simple/NAME/`` (normalized, trailing slash) preferring PEP 691 JSON.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import httpx
import pytest

from tests.e2e.images import run
from tests.support import IN_CI, require_program

DEBIAN_MAVEN_REPO = Path("/usr/share/maven-repo")
# Plugins a deploy-file / dependency:get / full `mvn deploy` of a jar project needs.
MAVEN_PLUGINS = (
    "maven-deploy-plugin",
    "maven-dependency-plugin",
    "maven-install-plugin",
    "maven-compiler-plugin",
    "maven-resources-plugin",
    "maven-jar-plugin",
    "maven-surefire-plugin",
)
MAVEN_PACKAGES = (
    "libmaven-deploy-plugin-java libmaven-dependency-plugin-java libmaven-install-plugin-java "
    "libmaven-compiler-plugin-java libmaven-resources-plugin-java libsurefire-java "
    "libmaven-jar-plugin-java"
)
# Configuration that would leak from the machine into a client run.
_LEAKY_ENV = re.compile(r"^(PIP_|UV_|TWINE_|NPM_CONFIG_|MAVEN_|PYTHON_KEYRING)", re.IGNORECASE)


# --------------------------------------------------------------------------- clients


def require_client(name: str) -> str:
    """Path to client program ``name``: skips on a developer machine, fails in CI.

    Programs installed into the running interpreter's virtualenv (twine, uv) are found
    there even when the venv is not activated; everything else goes through
    ``tests.support.require_program``.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return require_program(name)


def require_maven() -> str:
    """``mvn``, plus the Debian plugin packages it needs to deploy and resolve offline."""
    mvn_path = require_client("mvn")
    plugins = DEBIAN_MAVEN_REPO / "org" / "apache" / "maven" / "plugins"
    missing = [p for p in MAVEN_PLUGINS if not (plugins / p).is_dir()]
    if missing:
        message = f"Maven plugins {missing} are missing (apt-get install {MAVEN_PACKAGES})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return mvn_path


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The process environment minus client configuration, with HOME moved to ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not _LEAKY_ENV.match(k)}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **extra)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    return env


def _run(
    *args: str | os.PathLike[str],
    env: dict[str, str],
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Like ``images.run``, but ``env`` is the whole environment, not an overlay."""
    argv = [os.fspath(a) for a in args]
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, timeout=timeout, input=stdin, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


# --------------------------------------------------------------------------- Maven


def maven_settings(workdir: Path, server_id: str, user: str | None, password: str | None) -> Path:
    """A ``settings.xml`` for ``mvn -s``: local repository under ``workdir``, credentials
    for ``server_id`` (none when ``user`` is None), and Debian's plugin repository as
    ``central`` (Maven Central is unreachable here)."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = ""
    if user is not None:
        server = (
            f"<server><id>{escape(server_id)}</id><username>{escape(user)}</username>"
            f"<password>{escape(password or '')}</password></server>"
        )
    debian = (
        f"<id>central</id><url>file://{DEBIAN_MAVEN_REPO}</url>"
        "<releases><enabled>true</enabled><checksumPolicy>ignore</checksumPolicy></releases>"
        "<snapshots><enabled>false</enabled></snapshots>"
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{escape(str(workdir / "m2" / "repository"))}</localRepository>
  <interactiveMode>false</interactiveMode>
  <offline>false</offline>
  <servers>{server}</servers>
  <profiles>
    <profile>
      <id>debian-repo</id>
      <repositories><repository>{debian}</repository></repositories>
      <pluginRepositories><pluginRepository>{debian}</pluginRepository></pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles><activeProfile>debian-repo</activeProfile></activeProfiles>
</settings>
"""
    path = workdir / "settings.xml"
    path.write_text(text)
    return path


def _pom(group: str, artifact: str, version: str, body: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{escape(group)}</groupId>
  <artifactId>{escape(artifact)}</artifactId>
  <version>{escape(version)}</version>
  <packaging>jar</packaging>
{body}</project>
"""


def make_jar(workdir: Path, group: str, artifact: str, version: str) -> tuple[Path, Path]:
    """A small jar with unique content and its minimal pom, as ``(jar, pom)``."""
    out = workdir / f"{artifact}-{version}-{uuid.uuid4().hex[:6]}"
    out.mkdir(parents=True)
    jar = out / f"{artifact}-{version}.jar"
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        manifest = "Manifest-Version: 1.0\r\nCreated-By: cargohold\r\n\r\n"
        zf.writestr("META-INF/MANIFEST.MF", manifest)
        zf.writestr(f"{artifact}.txt", f"{group}:{artifact}:{version} {uuid.uuid4()}\n")
    pom = out / f"{artifact}-{version}.pom"
    pom.write_text(_pom(group, artifact, version))
    return jar, pom


def maven_project(
    workdir: Path, group: str, artifact: str, version: str, server_id: str, url: str
) -> Path:
    """A one-class jar project whose ``mvn deploy`` publishes to ``url`` as ``server_id``.

    The same URL serves releases and snapshots. Tests are skipped (surefire finds none).
    """
    project = workdir / f"project-{artifact}-{uuid.uuid4().hex[:6]}"
    source = project / "src" / "main" / "java" / "example"
    source.mkdir(parents=True)
    (source / "Hello.java").write_text(
        'package example;\npublic class Hello {\n  public static String hi() { return "hi"; }\n}\n'
    )
    resources = project / "src" / "main" / "resources"
    resources.mkdir(parents=True)
    (resources / "build.txt").write_text(f"{uuid.uuid4()}\n")
    repo = f"<id>{escape(server_id)}</id><url>{escape(url)}</url>"
    body = f"""  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <distributionManagement>
    <repository>{repo}</repository>
    <snapshotRepository>{repo}</snapshotRepository>
  </distributionManagement>
"""
    (project / "pom.xml").write_text(_pom(group, artifact, version, body))
    return project


def maven_path(group: str, artifact: str, version: str, filename: str | None = None) -> str:
    """The repository-relative path of a Maven file, e.g. ``com/example/lib/1.0/lib-1.0.jar``.

    ``filename`` defaults to the release jar; for a SNAPSHOT pass the timestamped name.
    """
    name = filename if filename is not None else f"{artifact}-{version}.jar"
    return f"{group.replace('.', '/')}/{artifact}/{version}/{name}"


def mvn(
    workdir: Path,
    settings: Path,
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``mvn -B -s settings ARGS`` with HOME and ``user.home`` inside ``workdir``."""
    mvn_path = require_maven()
    home = workdir / "home"
    env = _clean_env(
        home,
        MAVEN_OPTS=f"-Duser.home={home} -Xmx512m",
        MAVEN_SKIP_RC="1",
    )
    return _run(
        mvn_path,
        "-B",
        "-s",
        settings,
        *args,
        env=env,
        cwd=cwd or workdir,
        check=check,
        timeout=timeout,
    )


def curl_upload(
    url: str, user: str | None, password: str | None, file: Path, *, chunked: bool = False
) -> subprocess.CompletedProcess[str]:
    """The Jenkins-style Nexus upload: ``curl -f -u U:P -T FILE URL``.

    ``chunked`` streams the file from stdin (``-T -``), which curl sends with
    ``Transfer-Encoding: chunked``. curl sends ``Expect: 100-continue`` either way.
    The output ends with the HTTP status on a line of its own.
    """
    curl = require_client("curl")
    argv = [curl, "-sS", "-f", "-w", "\n%{http_code}\n", "-T", "-" if chunked else str(file), url]
    if user is not None:
        argv[1:1] = ["-u", f"{user}:{password or ''}"]
    with open(file, "rb") as stdin:
        return subprocess.run(
            argv, stdin=stdin, capture_output=True, text=True, timeout=120, check=False
        )


# --------------------------------------------------------------------------- npm


def npmrc_auth_key(registry_url: str) -> str:
    """The ``.npmrc`` key prefix npm matches credentials by: ``//host:port/path/``."""
    parts = urlsplit(registry_url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"//{parts.netloc.rpartition('@')[2]}{path}"


def npm_project(
    workdir: Path,
    name: str,
    version: str,
    registry_url: str,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
) -> Path:
    """A publishable package directory: ``package.json``, ``index.js`` and a ``.npmrc``
    pointing at ``registry_url`` with a bearer ``token`` or ``basic=(user, password)``."""
    if not registry_url.endswith("/"):
        registry_url += "/"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    project = workdir / f"npm-{slug}-{version}-{uuid.uuid4().hex[:6]}"
    project.mkdir(parents=True)
    manifest = {
        "name": name,
        "version": version,
        "description": f"test package {name}",
        "main": "index.js",
        "license": "MIT",
    }
    (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (project / "index.js").write_text(
        f"module.exports = {json.dumps(f'{name}@{version} {uuid.uuid4()}')};\n"
    )
    lines = [
        f"registry={registry_url}",
        "update-notifier=false",
        "audit=false",
        "fund=false",
    ]
    key = npmrc_auth_key(registry_url)
    if token is not None:
        lines.append(f"{key}:_authToken={token}")
    if basic is not None:
        encoded = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        lines.append(f"{key}:_auth={encoded}")
    (project / ".npmrc").write_text("\n".join(lines) + "\n")
    return project


def npm(
    cwd: Path,
    *args: str,
    home: Path | None = None,
    check: bool = True,
    timeout: float = 180,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``npm ARGS`` in ``cwd`` with HOME, cache and global config outside the real home.

    HOME (and with it npm's cache) defaults to a sibling of ``cwd`` of its own, so it is
    never packed into a tarball, and a consumer project does not find the tarballs its
    publisher put into a shared cache: ``npm publish`` caches what it packed.
    """
    npm_path = require_client("npm")
    home = home or cwd.parent / f".npm-home-{cwd.name}"
    env = _npm_env(home)
    return _run(npm_path, *args, env=env, cwd=cwd, check=check, timeout=timeout, stdin=stdin)


def _npm_env(home: Path) -> dict[str, str]:
    return _clean_env(
        home,
        npm_config_cache=str(home / "cache"),
        npm_config_userconfig=str(home / ".npmrc"),
        npm_config_globalconfig=str(home / "global-npmrc"),
        npm_config_update_notifier="false",
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_progress="false",
        NO_UPDATE_NOTIFIER="1",
        TERM="dumb",
    )


def npm_login(
    cwd: Path,
    user: str,
    password: str,
    *args: str,
    home: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``npm login --auth-type=legacy ARGS`` answering its prompts on a pseudo-terminal.

    npm reads the password with a TTY-only prompt: with a pipe on stdin it exits 1 with
    "Exit handler never called!" and sends nothing. Through a pty it PUTs
    ``/-/user/org.couchdb.user:USER`` and writes the returned token to the user
    ``.npmrc`` under ``home`` (the same default as ``npm``).
    """
    npm_path = require_client("npm")
    home = home or cwd.parent / f".npm-home-{cwd.name}"
    env = _npm_env(home)
    argv = [npm_path, "login", "--auth-type=legacy", *args]
    master, slave = pty.openpty()
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
    )
    os.close(slave)
    answers = [(b"Username:", f"{user}\r"), (b"Password:", f"{password}\r")]
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if answers and answers[0][0] in output:
                os.write(master, answers.pop(0)[1].encode())
    finally:
        os.close(master)
        if process.poll() is None and time.monotonic() >= deadline:
            process.kill()
        code = process.wait(timeout=30)
    text = output.decode(errors="replace").replace(password, "***")
    return subprocess.CompletedProcess(argv, code, text, "")


def npm_couch_login(registry_url: str, user: str, password: str) -> str:
    """The token from the legacy login request exactly as npm sends it (no Authorization)."""
    if not registry_url.endswith("/"):
        registry_url += "/"
    body = {
        "_id": f"org.couchdb.user:{user}",
        "name": user,
        "password": password,
        "type": "user",
        "roles": [],
        "date": "2024-01-01T00:00:00.000Z",
    }
    response = httpx.put(
        f"{registry_url}-/user/org.couchdb.user:{user}",
        json=body,
        headers={"npm-auth-type": "legacy", "npm-command": "login"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["token"])


# --------------------------------------------------------------------------- Python


def dist_name(name: str) -> str:
    """The project name as it appears in distribution file names (``My.Pkg`` -> ``my_pkg``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def normalize(name: str) -> str:
    """The PEP 503 normalized name used in ``/simple/NAME/`` URLs."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(name: str, version: str, requires_python: str | None) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: test package {name}",
        "License: MIT",
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    return "\n".join(lines) + "\n\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(workdir: Path, name: str, version: str, requires_python: str | None = None) -> Path:
    """A pure-Python ``py3-none-any`` wheel installing module ``dist_name(name)``.

    The module's ``VALUE`` is unique per call, so tests can tell builds apart.
    """
    module = dist_name(name)
    info = f"{module}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{module}/__init__.py": (
            f"VERSION = {version!r}\nVALUE = {str(uuid.uuid4())!r}\n".encode()
        ),
        f"{info}/METADATA": _metadata(name, version, requires_python).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: cargohold-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n\n"
        ),
        f"{info}/top_level.txt": f"{module}\n".encode(),
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in files.items():
        writer.writerow([path, _record_hash(data), len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    files[f"{info}/RECORD"] = record.getvalue().encode()
    workdir.mkdir(parents=True, exist_ok=True)
    wheel = workdir / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def make_sdist(workdir: Path, name: str, version: str) -> Path:
    """A ``NAME-VERSION.tar.gz`` source distribution with ``PKG-INFO`` (Metadata 2.1).

    Good for upload and download tests; installing it would need setuptools from PyPI.
    """
    module = dist_name(name)
    top = f"{module}-{version}"
    members = {
        f"{top}/PKG-INFO": _metadata(name, version, None).encode(),
        f"{top}/pyproject.toml": (
            f'[build-system]\nrequires = ["setuptools>=68"]\n'
            f'build-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ).encode(),
        f"{top}/{module}/__init__.py": f"VALUE = {str(uuid.uuid4())!r}\n".encode(),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    sdist = workdir / f"{top}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for path, data in members.items():
            entry = tarfile.TarInfo(path)
            entry.size = len(data)
            entry.mode = 0o644
            entry.mtime = 1_700_000_000
            tf.addfile(entry, io.BytesIO(data))
    return sdist


def twine_upload(
    url: str,
    user: str,
    password: str,
    *files: Path,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``twine upload --non-interactive --repository-url URL -u USER -p PASSWORD FILES``."""
    twine = require_client("twine")
    home = Path(files[0]).parent / ".twine-home"
    env = _clean_env(home, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    return _run(
        twine,
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--repository-url",
        url,
        "-u",
        user,
        "-p",
        password,
        *files,
        env=env,
        check=check,
        timeout=timeout,
    )


def _pip_flags(index_url: str | None) -> list[str]:
    return ["--index-url", index_url] if index_url is not None else ["--no-index"]


def pip_install(
    venv_dir: Path,
    index_url: str | None,
    requirement: str,
    *extra: str,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``pip install --isolated`` into a venv at ``venv_dir`` (created on first use).

    ``index_url`` is the ``.../simple/`` URL (credentials may be embedded); None means
    ``--no-index``, e.g. with ``"--find-links", DIR`` in ``extra``.
    """
    python = venv_dir / "bin" / "python"
    env = _clean_env(venv_dir.parent / ".pip-home")
    if not python.exists():
        _run(sys.executable, "-m", "venv", venv_dir, env=env, timeout=timeout)
    return _run(
        python,
        "-m",
        "pip",
        "install",
        "--isolated",
        "--no-cache-dir",
        "--no-input",
        "--disable-pip-version-check",
        *_pip_flags(index_url),
        *extra,
        requirement,
        env=env,
        check=check,
        timeout=timeout,
    )


def _uv_env(home: Path) -> dict[str, str]:
    return _clean_env(home, UV_CACHE_DIR=str(home / "uv-cache"), UV_NO_CONFIG="1")


def uv_pip_install(
    venv_dir: Path,
    index_url: str | None,
    requirement: str,
    *extra: str,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``uv pip install`` into a venv at ``venv_dir`` (made with ``uv venv`` on first use)."""
    uv = require_client("uv")
    env = _uv_env(venv_dir.parent / ".uv-home")
    if not (venv_dir / "bin" / "python").exists():
        _run(uv, "venv", "--python", sys.executable, venv_dir, env=env, timeout=timeout)
    return _run(
        uv,
        "pip",
        "install",
        "--no-cache",
        "--python",
        venv_dir / "bin" / "python",
        *_pip_flags(index_url),
        *extra,
        requirement,
        env=env,
        check=check,
        timeout=timeout,
    )


def uv_publish(
    url: str,
    user: str,
    password: str,
    *files: Path,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``uv publish --publish-url URL -u USER -p PASSWORD FILES``."""
    uv = require_client("uv")
    env = _uv_env(Path(files[0]).parent / ".uv-home")
    return _run(
        uv,
        "publish",
        "--publish-url",
        url,
        "-u",
        user,
        "-p",
        password,
        *files,
        env=env,
        check=check,
        timeout=timeout,
    )


def installed_value(venv_dir: Path, name: str) -> str:
    """The ``VALUE`` of a package made by ``make_wheel``, read by the venv's own Python."""
    result = run(
        venv_dir / "bin" / "python", "-c", f"import {dist_name(name)} as m; print(m.VALUE)"
    )
    return result.stdout.strip()


def wheel_value(wheel: Path) -> str:
    """The ``VALUE`` baked into a wheel made by ``make_wheel``."""
    with zipfile.ZipFile(wheel) as zf:
        init = next(n for n in zf.namelist() if n.endswith("/__init__.py"))
        text = zf.read(init).decode()
    match = re.search(r"VALUE = '([^']+)'", text)
    assert match is not None, text
    return match.group(1)


__all__ = [
    "DEBIAN_MAVEN_REPO",
    "curl_upload",
    "dist_name",
    "installed_value",
    "make_jar",
    "make_sdist",
    "make_wheel",
    "maven_path",
    "maven_project",
    "maven_settings",
    "mvn",
    "normalize",
    "npm",
    "npm_couch_login",
    "npm_login",
    "npm_project",
    "npmrc_auth_key",
    "pip_install",
    "require_client",
    "require_maven",
    "twine_upload",
    "uv_pip_install",
    "uv_publish",
    "wheel_value",
]
