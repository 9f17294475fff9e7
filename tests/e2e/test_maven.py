"""Real Maven (mvn 3.8.7) and curl against a live server's hosted Maven repositories.

One server for the module, with an organisation whose owner, maintainer and reader
are users made by the administrator; every test makes repositories and artifacts
of its own (names carry a random suffix), so tests do not depend on each other's
order. mvn runs with a ``settings.xml`` and a local repository of the test's own and
resolves its plugins from Debian's ``/usr/share/maven-repo``; a consumer always
starts from an empty local repository, so what it gets came from the server.
Uploads are checked the way a user would: the client's exit status and output,
then the bytes the server serves back.

Two tests start servers of their own: one with a small file-size limit, and one
that is killed with SIGKILL in the middle of a 200 MiB upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import signal
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cargohold.storage import layout
from tests.e2e.accounts import ADMIN, AuthRegistry, start_registry
from tests.e2e.packages import (
    curl_upload,
    make_jar,
    maven_path,
    maven_project,
    maven_settings,
    mvn,
    require_client,
)
from tests.e2e.test_durability import held_open

pytestmark = pytest.mark.e2e

GROUP = "com.example.e2e"
SERVER_ID = "cargohold"
MiB = 1024 * 1024
# maven-resolver 1.x's own words (BasicRepositoryConnector, WarnChecksumPolicy).
CHECKSUM_WARNING = re.compile(
    r"Failed to upload checksums? (to|for)|Could not validate integrity of download"
)


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def said(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    text = said(result)
    assert result.returncode == 0, text
    assert "BUILD SUCCESS" in text, text
    # maven-resolver logs a refused checksum upload, or a download whose checksum
    # does not match, as a warning and goes on: the exit status would not show it.
    assert not CHECKSUM_WARNING.search(text), text
    return text


def failed(result: subprocess.CompletedProcess[str]) -> str:
    text = said(result)
    assert result.returncode != 0, text
    assert "BUILD FAILURE" in text, text
    return text


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Team:
    """The organisation owning every repository made here, and its people."""

    registry: AuthRegistry
    org: str
    owner: tuple[str, str]
    maintainer: tuple[str, str]
    reader: tuple[str, str]

    def create_repo(self, label: str, **fields: str) -> str:
        """A hosted Maven repository of the organisation, made by the administrator."""
        name = unique(label)
        with self.registry.api(ADMIN) as api:
            reply = api.post(
                "/package-repositories",
                json={"name": name, "format": "maven", "namespace": self.org, **fields},
            )
        assert reply.status_code == 201, reply.text
        doc = reply.json()
        assert doc["namespace"] == self.org
        assert doc["url"] == self.url(name)
        return name

    def url(self, repo: str) -> str:
        return f"{self.registry.url}/repository/{repo}/"

    def get(self, repo: str, path: str, user: tuple[str, str] | None = None) -> httpx.Response:
        return httpx.get(self.url(repo) + path, auth=user, timeout=30)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    require_client("curl")
    reg = start_registry(tmp_path_factory.mktemp("maven"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def team(registry: AuthRegistry) -> Team:
    owner = registry.create_user("owner")
    maintainer = registry.create_user("maintainer")
    reader = registry.create_user("reader")
    org = registry.create_org(owner, "maven")
    with registry.api(owner) as api:
        for user, role in ((maintainer, "maintainer"), (reader, "reader")):
            reply = api.put(f"/orgs/{org}/members/{user[0]}", json={"role": role})
            assert reply.status_code == 200, reply.text
    return Team(registry, org, owner, maintainer, reader)


# --------------------------------------------------------------------------- mvn


def settings_for(workdir: Path, login: tuple[str, str] | None) -> Path:
    """``maven_settings`` for ``workdir`` with ``login`` as the server's credentials.

    Also a ``.mvn/jvm.config`` that mvn finds from ``workdir`` and the projects below
    it: a JVM tuned for short runs starts mvn about a third faster."""
    config = workdir / ".mvn" / "jvm.config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC\n")
    user, password = login if login is not None else (None, None)
    return maven_settings(workdir, SERVER_ID, user, password)


def deploy_file(
    workdir: Path, settings: Path, jar: Path, pom: Path, url: str
) -> subprocess.CompletedProcess[str]:
    return mvn(
        workdir,
        settings,
        "deploy:deploy-file",
        f"-Dfile={jar}",
        f"-DpomFile={pom}",
        f"-DrepositoryId={SERVER_ID}",
        f"-Durl={url}",
        check=False,
    )


def dependency_get(
    workdir: Path, settings: Path, coordinates: str, url: str
) -> subprocess.CompletedProcess[str]:
    return mvn(
        workdir,
        settings,
        "dependency:get",
        f"-Dartifact={coordinates}",
        f"-DremoteRepositories={SERVER_ID}::default::{url}",
        "-Dtransitive=false",
        check=False,
    )


def local_file(workdir: Path, group: str, artifact: str, version: str, name: str) -> Path:
    """Where mvn keeps a file in the local repository of ``maven_settings(workdir)``."""
    return workdir / "m2" / "repository" / maven_path(group, artifact, version, name)


def uploaded_names(output: str, artifact: str) -> list[str]:
    """The file names mvn reports as uploaded for ``artifact``, in order."""
    pattern = re.compile(
        rf"Uploaded to {SERVER_ID}: \S+/{re.escape(artifact)}/(?:[^/\s]+/)?([^/\s]+) \("
    )
    return pattern.findall(output)


def metadata_versions(document: bytes) -> tuple[list[str], str | None]:
    """``(versions, release)`` of an artifact-level maven-metadata.xml."""
    root = ET.fromstring(document)
    versions = [v.text or "" for v in root.iterfind("versioning/versions/version")]
    return versions, root.findtext("versioning/release")


# --------------------------------------------------------------------------- 1. deploy-file


def test_deploy_file_then_dependency_get_in_a_fresh_local_repository(
    team: Team, tmp_path: Path
) -> None:
    # Private: the consumer's GETs go out without credentials first (mvn sends them
    # only after a 401), so this also covers that round trip.
    repo = team.create_repo("releases", visibility="private")
    artifact = unique("lib")
    publisher = tmp_path / "publisher"
    settings = settings_for(publisher, team.maintainer)
    jar, pom = make_jar(publisher, GROUP, artifact, "1.0")

    out = succeeded(deploy_file(publisher, settings, jar, pom, team.url(repo)))
    assert uploaded_names(out, artifact) == [
        f"{artifact}-1.0.jar",
        f"{artifact}-1.0.pom",
        "maven-metadata.xml",
    ]

    # A consumer with an empty local repository, reading as a reader of the team.
    consumer = tmp_path / "consumer"
    consumer_settings = settings_for(consumer, team.reader)
    succeeded(
        dependency_get(consumer, consumer_settings, f"{GROUP}:{artifact}:1.0", team.url(repo))
    )
    got = local_file(consumer, GROUP, artifact, "1.0", f"{artifact}-1.0.jar")
    assert got.read_bytes() == jar.read_bytes()
    got_pom = local_file(consumer, GROUP, artifact, "1.0", f"{artifact}-1.0.pom")
    assert got_pom.read_bytes() == pom.read_bytes()
    # mvn keeps the checksum it downloaded beside the jar: the server's, and right.
    mvn_sha1 = got.with_name(got.name + ".sha1").read_text().split()[0]
    assert mvn_sha1 == sha1(jar.read_bytes())

    jar_path = maven_path(GROUP, artifact, "1.0")
    served = team.get(repo, jar_path, team.reader)
    assert served.status_code == 200
    assert served.content == jar.read_bytes()
    assert served.headers["content-type"] == "application/java-archive"
    checksum = team.get(repo, jar_path + ".sha1", team.reader)
    assert checksum.status_code == 200
    assert checksum.text.strip() == sha1(jar.read_bytes())
    for algorithm in ("md5", "sha256", "sha512"):
        served_sum = team.get(repo, f"{jar_path}.{algorithm}", team.reader).text.strip()
        assert served_sum == hashlib.new(algorithm, jar.read_bytes()).hexdigest()

    metadata_path = f"{GROUP.replace('.', '/')}/{artifact}/maven-metadata.xml"
    metadata = team.get(repo, metadata_path, team.reader)
    assert metadata.status_code == 200
    assert metadata_versions(metadata.content) == (["1.0"], "1.0")
    metadata_sha1 = team.get(repo, metadata_path + ".sha1", team.reader).text.strip()
    assert metadata_sha1 == sha1(metadata.content)


# --------------------------------------------------------------------------- 2. mvn deploy


def test_mvn_deploy_of_a_project_and_a_refused_redeploy(team: Team, tmp_path: Path) -> None:
    repo = team.create_repo("releases")
    artifact = unique("app")
    settings = settings_for(tmp_path, team.maintainer)
    project = maven_project(tmp_path, GROUP, artifact, "1.0", SERVER_ID, team.url(repo))

    out = succeeded(mvn(tmp_path, settings, "deploy", cwd=project, check=False))
    # A project deploy sends the pom first.
    assert uploaded_names(out, artifact) == [
        f"{artifact}-1.0.pom",
        f"{artifact}-1.0.jar",
        "maven-metadata.xml",
    ]
    built = project / "target" / f"{artifact}-1.0.jar"
    first = built.read_bytes()
    jar_path = maven_path(GROUP, artifact, "1.0")
    assert team.get(repo, jar_path).content == first
    pom_path = maven_path(GROUP, artifact, "1.0", f"{artifact}-1.0.pom")
    assert team.get(repo, pom_path).content == (project / "pom.xml").read_bytes()

    # The same version again with other content: releases are written once.
    (project / "src" / "main" / "resources" / "build.txt").write_text(f"{uuid.uuid4()}\n")
    out = failed(mvn(tmp_path, settings, "deploy", cwd=project, check=False))
    assert built.read_bytes() != first
    assert f"{artifact}-1.0.jar, status: 403 Forbidden" in out
    assert team.get(repo, jar_path).content == first
    assert team.get(repo, jar_path + ".sha1").text.strip() == sha1(first)
    # The identical pom was accepted again (same bytes, nothing changes).
    assert uploaded_names(out, artifact) == [f"{artifact}-1.0.pom"]
    metadata = team.get(repo, f"{GROUP.replace('.', '/')}/{artifact}/maven-metadata.xml")
    assert metadata_versions(metadata.content) == (["1.0"], "1.0")


# --------------------------------------------------------------------------- 3. SNAPSHOTs


def test_snapshots_resolve_to_the_latest_build_and_releases_refuse_them(
    team: Team, tmp_path: Path
) -> None:
    name = unique("snapshots")
    made = team.registry.cli(
        "repo",
        "create",
        "--format",
        "maven",
        "--namespace",
        team.org,
        "--version-policy",
        "snapshot",
        name,
        user=ADMIN,
    )
    doc = json.loads(made.stdout)
    assert (doc["version_policy"], doc["write_policy"]) == ("snapshot", "allow")
    releases = team.create_repo("releases")

    artifact = unique("snap")
    version = "1.0-SNAPSHOT"
    publisher = tmp_path / "publisher"
    settings = settings_for(publisher, team.maintainer)
    builds: list[tuple[str, bytes]] = []
    for number in (1, 2):
        jar, pom = make_jar(publisher, GROUP, artifact, version)
        out = succeeded(deploy_file(publisher, settings, jar, pom, team.url(name)))
        names = uploaded_names(out, artifact)
        # Timestamped file names; the build number comes from the server's metadata.
        assert re.fullmatch(rf"{artifact}-1\.0-\d{{8}}\.\d{{6}}-{number}\.jar", names[0]), names
        builds.append((names[0], jar.read_bytes()))

    directory = f"{GROUP.replace('.', '/')}/{artifact}/{version}/"
    for filename, content in builds:  # both builds stay
        assert team.get(name, directory + filename).content == content
    metadata = ET.fromstring(team.get(name, directory + "maven-metadata.xml").content)
    assert metadata.findtext("versioning/snapshot/buildNumber") == "2"
    jar_values = [
        entry.findtext("value")
        for entry in metadata.iterfind("versioning/snapshotVersions/snapshotVersion")
        if entry.findtext("extension") == "jar"
    ]
    assert jar_values == [builds[1][0].removeprefix(f"{artifact}-").removesuffix(".jar")]

    consumer = tmp_path / "consumer"
    consumer_settings = settings_for(consumer, team.reader)
    out = succeeded(
        dependency_get(consumer, consumer_settings, f"{GROUP}:{artifact}:{version}", team.url(name))
    )
    assert f"Downloaded from {SERVER_ID}: {team.url(name)}{directory}{builds[1][0]}" in out
    got = local_file(consumer, GROUP, artifact, version, f"{artifact}-{version}.jar")
    assert got.read_bytes() == builds[1][1]

    # The release repository refuses a SNAPSHOT, and keeps nothing of it.
    jar, pom = make_jar(publisher, GROUP, artifact, version)
    out = failed(deploy_file(publisher, settings, jar, pom, team.url(releases)))
    assert "status: 400 Bad Request" in out
    assert team.get(releases, directory + "maven-metadata.xml").status_code == 404
    assert team.get(releases, f"{GROUP.replace('.', '/')}/{artifact}/").status_code == 404
    # ... and the snapshot repository a release.
    jar, _ = make_jar(publisher, GROUP, artifact, "1.0")
    release_path = maven_path(GROUP, artifact, "1.0")
    refused = curl_upload(team.url(name) + release_path, *team.maintainer, jar)
    assert refused.returncode == 22 and refused.stdout.strip() == "400", said(refused)


# --------------------------------------------------------------------------- 4. curl


def curl_status(result: subprocess.CompletedProcess[str]) -> int:
    """The status ``curl_upload`` printed last (curl -f still prints ``-w``)."""
    return int(result.stdout.strip().splitlines()[-1])


def test_jenkins_style_curl_uploads_and_who_may_make_them(team: Team, tmp_path: Path) -> None:
    repo = team.create_repo("releases")
    artifact = unique("jenkins")
    url = team.url(repo)

    def upload(version: str, login: tuple[str, str], chunked: bool = False) -> tuple[Path, Path]:
        jar, pom = make_jar(tmp_path, GROUP, artifact, version)
        for file in (jar, pom):
            sent = curl_upload(
                url + maven_path(GROUP, artifact, version, file.name), *login, file, chunked=chunked
            )
            assert sent.returncode == 0 and curl_status(sent) == 201, said(sent)
        return jar, pom

    # -T FILE (Content-Length), and -T - from a pipe (Transfer-Encoding: chunked).
    jar, pom = upload("1.0", team.maintainer)
    upload("1.1", team.maintainer)
    chunked_jar, chunked_pom = upload("1.2", team.maintainer, chunked=True)
    for file in (jar, pom):
        assert team.get(repo, maven_path(GROUP, artifact, "1.0", file.name)).content == (
            file.read_bytes()
        )
    chunked_path = maven_path(GROUP, artifact, "1.2")
    assert team.get(repo, chunked_path).content == chunked_jar.read_bytes()
    assert team.get(repo, chunked_path + ".sha1").text == sha1(chunked_jar.read_bytes())
    pom_path = maven_path(GROUP, artifact, "1.2", chunked_pom.name)
    assert team.get(repo, pom_path).content == chunked_pom.read_bytes()

    # No credentials, a wrong password: 401. A reader of the organisation: 403.
    jar13, _ = make_jar(tmp_path, GROUP, artifact, "1.3")
    path13 = maven_path(GROUP, artifact, "1.3")
    attempts: list[tuple[str | None, str | None, int]] = [
        (None, None, 401),
        (team.maintainer[0], "not-the-password", 401),
        (*team.reader, 403),
    ]
    for user, password, status in attempts:
        refused = curl_upload(url + path13, user, password, jar13)
        assert refused.returncode == 22 and curl_status(refused) == status, said(refused)
    assert team.get(repo, path13, team.reader).status_code == 404
    status, _ = curl("-u", ":".join(team.reader), "-X", "DELETE", url + chunked_path)
    assert status == 403
    assert team.get(repo, chunked_path, team.reader).content == chunked_jar.read_bytes()

    # A robot scoped to push into this repository uploads; one scoped elsewhere may not.
    robot = team.registry.create_robot(
        team.owner, team.org, unique("ci"), f"{team.org}/{repo}:push"
    )
    elsewhere = team.registry.create_robot(
        team.owner, team.org, unique("other"), f"{team.org}/{repo}-other:push"
    )
    refused = curl_upload(url + path13, *elsewhere, jar13)
    assert refused.returncode == 22 and curl_status(refused) == 403, said(refused)
    robot_jar, _ = upload("1.10", robot)

    # A personal access token in place of the password.
    with team.registry.api(team.maintainer) as api:
        reply = api.post("/tokens", json={"name": unique("jenkins")})
    assert reply.status_code == 201, reply.text
    upload("1.9", (team.maintainer[0], reply.json()["secret"]), chunked=True)

    # curl never sends maven-metadata.xml; the server's lists every version in Maven's
    # order, and mvn resolves RELEASE through it.
    metadata = team.get(repo, f"{GROUP.replace('.', '/')}/{artifact}/maven-metadata.xml")
    assert metadata_versions(metadata.content) == (["1.0", "1.1", "1.2", "1.9", "1.10"], "1.10")
    consumer = tmp_path / "consumer"
    settings = settings_for(consumer, team.reader)
    succeeded(dependency_get(consumer, settings, f"{GROUP}:{artifact}:RELEASE", url))
    got = local_file(consumer, GROUP, artifact, "1.10", f"{artifact}-1.10.jar")
    assert got.read_bytes() == robot_jar.read_bytes()


# --------------------------------------------------------------------------- 5. visibility


def test_private_repositories_need_a_login_and_public_ones_do_not(
    team: Team, tmp_path: Path
) -> None:
    private = team.create_repo("private", visibility="private")
    public = team.create_repo("public", visibility="public")
    artifact = unique("vis")
    jar, pom = make_jar(tmp_path, GROUP, artifact, "1.0")
    for repo in (private, public):
        for file in (jar, pom):
            path = maven_path(GROUP, artifact, "1.0", file.name)
            sent = curl_upload(team.url(repo) + path, *team.maintainer, file)
            assert sent.returncode == 0, said(sent)
    coordinates = f"{GROUP}:{artifact}:1.0"
    jar_path = maven_path(GROUP, artifact, "1.0")

    # No <server> credentials: mvn's GETs go without auth and get 401.
    anonymous = tmp_path / "anonymous"
    settings = settings_for(anonymous, None)
    out = failed(dependency_get(anonymous, settings, coordinates, team.url(private)))
    assert "401" in out, out
    assert not local_file(anonymous, GROUP, artifact, "1.0", jar.name).exists()
    for path in (jar_path, f"{GROUP.replace('.', '/')}/{artifact}/maven-metadata.xml", "x/y.jar"):
        refused = team.get(private, path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == 'Basic realm="cargohold"'
    curl = subprocess.run(
        [require_client("curl"), "-sS", "-f", "-o", "/dev/null", team.url(private) + jar_path],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert curl.returncode == 22 and "401" in curl.stderr, curl.stderr

    # A logged-in user who is no member of the organisation hears of no such file.
    stranger = team.registry.create_user("stranger")
    assert team.get(private, jar_path, stranger).status_code == 404
    assert team.get(private, jar_path, team.reader).content == jar.read_bytes()

    # The public repository serves the same request anonymously.
    succeeded(dependency_get(anonymous, settings, coordinates, team.url(public)))
    got = local_file(anonymous, GROUP, artifact, "1.0", jar.name)
    assert got.read_bytes() == jar.read_bytes()


# --------------------------------------------------------------------------- plugins


def plugin_project(workdir: Path, group: str, artifact: str, url: str) -> Path:
    """A Maven plugin with one goal, ``hi``, that logs a line of its own."""
    project = workdir / f"plugin-{artifact}"
    source = project / "src" / "main" / "java" / "example"
    source.mkdir(parents=True)
    (source / "HelloMojo.java").write_text(
        "package example;\n"
        "import org.apache.maven.plugin.AbstractMojo;\n"
        "import org.apache.maven.plugins.annotations.Mojo;\n"
        '@Mojo(name = "hi", requiresProject = false)\n'
        "public class HelloMojo extends AbstractMojo {\n"
        '  public void execute() { getLog().info("hello from " + getClass().getName()); }\n'
        "}\n"
    )

    def dependency(group_id: str, artifact_id: str, version: str, scope: str) -> str:
        return (
            f"<dependency><groupId>{group_id}</groupId><artifactId>{artifact_id}</artifactId>"
            f"<version>{version}</version><scope>{scope}</scope></dependency>"
        )

    # Versions Debian's /usr/share/maven-repo holds; plexus-utils is named so that
    # Maven does not add the 1.1 it injects into plugins that lack it.
    dependencies = "".join(
        (
            dependency("org.apache.maven", "maven-plugin-api", "3.8.7", "provided"),
            dependency(
                "org.apache.maven.plugin-tools", "maven-plugin-annotations", "3.7.1", "provided"
            ),
            dependency("org.codehaus.plexus", "plexus-utils", "3.4.2", "compile"),
        )
    )
    (project / "pom.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>1.0</version>
  <packaging>maven-plugin</packaging>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>{dependencies}</dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-plugin-plugin</artifactId>
    <version>3.7.1</version>
  </plugin></plugins></build>
  <distributionManagement>
    <repository><id>{SERVER_ID}</id><url>{url}</url></repository>
  </distributionManagement>
</project>
""")
    return project


def test_a_deployed_plugin_runs_by_its_prefix(team: Team, tmp_path: Path) -> None:
    repo = team.create_repo("plugins")
    url = team.url(repo)
    group = f"{GROUP}.{uuid.uuid4().hex[:8]}"
    prefix = unique("hello")
    artifact = f"{prefix}-maven-plugin"
    publisher = tmp_path / "publisher"
    settings = settings_for(publisher, team.maintainer)
    project = plugin_project(publisher, group, artifact, url)
    out = succeeded(mvn(publisher, settings, "deploy", cwd=project, check=False))
    assert f"{artifact}-1.0.jar" in uploaded_names(out, artifact)

    # Maven 3.9 deploys the group's prefix map with the plugin. Maven 3.8.7 with
    # deploy plugin 3.0.0 (Debian's) drops it, so send what 3.9 sends.
    group_metadata = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<metadata><plugins><plugin>"
        f"<name>{artifact}</name><prefix>{prefix}</prefix><artifactId>{artifact}</artifactId>"
        "</plugin></plugins></metadata>\n"
    )
    metadata_url = f"{url}{group.replace('.', '/')}/maven-metadata.xml"
    login = ":".join(team.maintainer)
    status, body = curl("-u", login, "-T", "-", metadata_url, stdin=group_metadata)
    assert status == 201, body
    digest = sha1(group_metadata.encode())
    status, body = curl("-u", login, "-T", "-", metadata_url + ".sha1", stdin=digest)
    assert status == 201, body

    # A consumer that lists the group in <pluginGroups> runs `mvn PREFIX:hi`.
    consumer = tmp_path / "consumer"
    consumer_settings = settings_for(consumer, team.reader)
    text = consumer_settings.read_text()
    text = text.replace(
        "<servers>", f"<pluginGroups><pluginGroup>{group}</pluginGroup></pluginGroups><servers>"
    ).replace(
        "<pluginRepositories>",
        f"<pluginRepositories><pluginRepository><id>{SERVER_ID}</id><url>{url}</url>"
        "</pluginRepository>",
    )
    consumer_settings.write_text(text)
    result = mvn(consumer, consumer_settings, f"{prefix}:hi", check=False)
    assert result.returncode == 0, said(result)
    assert "[INFO] hello from example.HelloMojo" in result.stdout
    assert f"Downloaded from {SERVER_ID}: {metadata_url}" in result.stdout
    jar = local_file(consumer, group, artifact, "1.0", f"{artifact}-1.0.jar")
    assert jar.read_bytes() == (project / "target" / f"{artifact}-1.0.jar").read_bytes()


# --------------------------------------------------------------------------- 6. bad input


def curl(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """``curl ARGS`` without ``-f``: the status and the body the server answered."""
    argv = [require_client("curl"), "-sS", "-w", "\n%{http_code}", *args]
    result = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, said(result)
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


def largest_file(root: Path) -> int:
    """The size of the largest file below ``root`` (a file may vanish as we look)."""
    sizes = [0]
    for path in files_under(root):
        with contextlib.suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return max(sizes)


def storage_dir(registry: AuthRegistry, spec: layout.PathSpec) -> Path:
    return registry.server.data_dir / "storage" / layout.path_for(spec).lstrip("/")


def test_bad_paths_checksums_and_metadata_are_refused(team: Team, tmp_path: Path) -> None:
    repo = team.create_repo("releases")
    url = team.url(repo)
    login = ":".join(team.maintainer)
    artifact = unique("bad")
    jar, _ = make_jar(tmp_path, GROUP, artifact, "1.0")
    group_dir = GROUP.replace(".", "/")

    # '..' segments, sent as they are (curl would otherwise squash them itself).
    for path in (
        f"{group_dir}/../../../../../etc/passwd",
        f"{group_dir}/{artifact}/1.0/../../x/1.0/x-1.0.jar",
        f"../{repo}/{maven_path(GROUP, artifact, '1.0')}",
        f"{group_dir}/{artifact}/1.0/%2e%2e/%2e%2e/x/1.0/x-1.0.jar",
    ):
        status, body = curl("--path-as-is", "-u", login, "-T", str(jar), url + path)
        assert status == 400 and "'..' segments are not allowed" in body, (path, body)
        status, _ = curl("--path-as-is", "-u", login, url + path)
        assert status == 404, path
    escaped = f"{team.registry.url}/repository/../{repo}/{maven_path(GROUP, artifact, '1.0')}"
    status, body = curl("--path-as-is", "-u", login, "-T", str(jar), escaped)
    assert status == 400 and "invalid repository name" in body, body
    listing = team.get(repo, "", team.maintainer)
    assert listing.status_code == 200
    assert "etc" not in listing.text and group_dir.split("/")[0] not in listing.text

    # A checksum upload that does not match what the server received.
    jar_path = maven_path(GROUP, artifact, "1.0")
    digest = sha1(jar.read_bytes())
    status, _ = curl("-u", login, "-T", str(jar), url + jar_path)
    assert status == 201
    status, body = curl("-u", login, "-T", "-", url + jar_path + ".sha1", stdin="0" * 40)
    assert status == 400 and "checksum mismatch" in body, body
    assert team.get(repo, jar_path + ".sha1").text == digest
    status, body = curl("-u", login, "-T", "-", url + jar_path + ".md5", stdin="not hex at all")
    assert status == 400, body
    # The matching one, in the "HEX  FILENAME" form some tools write, is accepted.
    status, body = curl(
        "-u", login, "-T", "-", url + jar_path + ".sha1", stdin=f"{digest}  {jar.name}\n"
    )
    assert status == 201, body
    assert team.get(repo, jar_path + ".sha1").text == digest

    # maven-metadata.xml that is not well-formed, declares entities, or names another artifact.
    metadata_url = f"{url}{group_dir}/{artifact}/maven-metadata.xml"
    for document, complaint in (
        (f"<metadata><groupId>{GROUP}</groupId><artifactId>{artifact}", "not well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e "x">]>'
            f"<metadata><groupId>&e;</groupId><artifactId>{artifact}</artifactId></metadata>",
            "DOCTYPE",
        ),
        (
            f"<metadata><groupId>{GROUP}</groupId><artifactId>other</artifactId></metadata>",
            "artifactId",
        ),
    ):
        status, body = curl("-u", login, "-T", "-", metadata_url, stdin=document)
        assert status == 400 and complaint in body, (document, body)
    served = httpx.get(metadata_url, timeout=30)
    assert served.status_code == 200
    assert metadata_versions(served.content) == (["1.0"], "1.0")
    assert team.get(repo, jar_path).content == jar.read_bytes()


LIMIT = 1_000_000


def test_files_over_the_size_limit_are_refused_and_not_stored(tmp_path: Path) -> None:
    require_client("curl")
    registry = start_registry(tmp_path / "limited", CARGOHOLD_PACKAGES__MAX_FILE_BYTES=str(LIMIT))
    try:
        with registry.api(ADMIN) as api:
            reply = api.post("/package-repositories", json={"name": "limited", "format": "maven"})
        assert reply.status_code == 201, reply.text
        url = f"{registry.url}/repository/limited/"
        rng = random.Random(7)
        at_limit = tmp_path / "at-limit.jar"
        at_limit.write_bytes(rng.randbytes(LIMIT))
        over = tmp_path / "over.jar"
        over.write_bytes(rng.randbytes(LIMIT + 1))
        far_over = tmp_path / "far-over.jar"
        far_over.write_bytes(rng.randbytes(20 * MiB))

        sent = curl_upload(url + maven_path(GROUP, "big", "1.0"), *ADMIN, at_limit)
        assert sent.returncode == 0 and curl_status(sent) == 201, said(sent)
        for version, file, chunked in (
            ("2.0", over, False),
            ("2.0", over, True),
            ("3.0", far_over, False),
            ("3.0", far_over, True),
        ):
            refused = curl_upload(
                url + maven_path(GROUP, "big", version), *ADMIN, file, chunked=chunked
            )
            # A chunked body has no size to refuse up front: the limit is found
            # mid-body, and the rest is read and dropped so that curl, which reads
            # the answer once its send is done, gets it rather than a reset.
            assert refused.returncode == 22, said(refused)
            assert curl_status(refused) in (400, 413), said(refused)
            status, body = curl("-u", ":".join(ADMIN), url + maven_path(GROUP, "big", version))
            assert status == 404, body
        status, body = curl(
            "-u", ":".join(ADMIN), "-T", str(over), url + maven_path(GROUP, "big", "2.0")
        )
        assert f"larger than the {LIMIT}-byte limit" in body, body

        metadata = httpx.get(url + f"{GROUP.replace('.', '/')}/big/maven-metadata.xml", timeout=30)
        assert metadata_versions(metadata.content) == (["1.0"], "1.0")
        assert files_under(storage_dir(registry, layout.UploadsRoot())) == []
        served = httpx.get(url + maven_path(GROUP, "big", "1.0"), timeout=30)
        assert served.content == at_limit.read_bytes()
    finally:
        registry.stop()


# --------------------------------------------------------------------------- 7. kill -9


class Stream:
    """``size`` pseudo-random bytes made 1 MiB at a time, so nothing holds them whole.

    Piece ``i`` is a random block whose first 32 bytes are ``sha256(seed, i)``: every
    piece differs, so a lost or repeated piece changes the digests."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size
        self.block = random.Random(seed).randbytes(MiB)

    def pieces(self) -> Iterator[bytes]:
        for index, start in enumerate(range(0, self.size, MiB)):
            head = hashlib.sha256(f"{self.seed}:{index}".encode()).digest()
            yield (head + self.block[len(head) :])[: self.size - start]

    def digests(self) -> tuple[str, str]:
        """``(sha256, sha1)`` hex of the whole stream."""
        sha256, sha1_ = hashlib.sha256(), hashlib.sha1()
        for piece in self.pieces():
            sha256.update(piece)
            sha1_.update(piece)
        return sha256.hexdigest(), sha1_.hexdigest()


@pytest.mark.slow
def test_kill_during_a_large_chunked_put_then_upload_again(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "crash")
    try:
        with registry.api(ADMIN) as api:
            reply = api.post("/package-repositories", json={"name": "crash", "format": "maven"})
        assert reply.status_code == 201, reply.text
        url = f"{registry.url}/repository/crash/"
        path = maven_path(GROUP, "big", "1.0")
        stream = Stream(seed=11, size=200 * MiB)
        uploads = storage_dir(registry, layout.UploadsRoot())
        blobs = storage_dir(registry, layout.BlobsRoot())
        blobs_before = set(files_under(blobs))

        release = threading.Event()
        outcome: dict[str, object] = {}

        def send() -> None:
            try:
                with httpx.Client(auth=ADMIN, timeout=60) as client:
                    # A generator body goes out with Transfer-Encoding: chunked.
                    outcome["response"] = client.put(
                        url + path, content=held_open(stream.pieces(), 64 * MiB, release)
                    )
            except BaseException as exc:
                outcome["error"] = exc

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while largest_file(uploads) < 16 * MiB:
            assert time.monotonic() < deadline, "16 MiB of the upload never reached the disk"
            assert sender.is_alive(), outcome
            time.sleep(0.05)
        assert registry.server.process is not None
        registry.server.stop(signal.SIGKILL)
        release.set()
        sender.join(60)
        assert not sender.is_alive(), "the PUT is stuck"
        assert "response" not in outcome, outcome

        registry.server.start()
        with httpx.Client(auth=ADMIN, timeout=60) as client:
            for suffix in ("", ".sha1"):
                assert client.get(url + path + suffix).status_code == 404, suffix
            assert client.head(url + path).status_code == 404
            metadata = client.get(url + f"{GROUP.replace('.', '/')}/big/maven-metadata.xml")
            assert metadata.status_code == 404
            # The partial file was never published as a blob.
            assert set(files_under(blobs)) == blobs_before

            # The whole file again (write policy deny: nothing half-written is in the way).
            sent = client.put(url + path, content=stream.pieces())
            assert sent.status_code == 201, sent.text
            sha256_hex, sha1_hex = stream.digests()
            hasher, size = hashlib.sha256(), 0
            with client.stream("GET", url + path) as served:
                assert served.status_code == 200
                for piece in served.iter_bytes(MiB):
                    hasher.update(piece)
                    size += len(piece)
            assert (size, hasher.hexdigest()) == (stream.size, sha256_hex)
            assert client.get(url + path + ".sha1").text == sha1_hex
            assert client.get(url + path + ".sha256").text == sha256_hex
    finally:
        registry.stop()
