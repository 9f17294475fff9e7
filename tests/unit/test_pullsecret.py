"""`cargohold pull-secret` against the real kubectl: the output must match byte for byte."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from cargohold.cli.pullsecret import pull_secret, pull_secret_yaml
from tests.support import require_program


class Case(NamedTuple):
    name: str
    server: str
    username: str
    password: str
    email: str | None = None
    namespace: str | None = None


CASES = {
    "plain": Case("regcred", "registry.example.com", "alice", "s3cret"),
    "email": Case("regcred", "registry.example.com", "alice", "s3cret", email="a@example.com"),
    "namespace-and-port": Case("pull", "127.0.0.1:5000", "bob", "pw", namespace="ci"),
    "html-and-quotes": Case("x", "r<&>", "u<>", "p<a>&\"\\x'$`!", email="<e>&@x.io"),
    "control-characters": Case("x", "r", "u", "\b\f\n\r\t\x01\x1f\x7f tab\there"),
    "unicode": Case("x", "régistry.例え.jp", "ü名", "é\u2028\u2029\u00a0\ufeff🚀/"),
    "long-values": Case(
        "a" * 63 + "." + "b" * 63,
        "registry." + "x" * 200 + ".example.com:443",
        "robot$" + "u" * 300,
        "p" * 3000,
        email="e" * 500 + "@example.com",
        namespace="n" * 63,
    ),
    "scheme-and-path-server": Case("x", "https://reg.example.com:8443/v2/", "u", "p"),
    "empty-email-and-namespace": Case("x", "r", "u", "p", email="", namespace=""),
    "yaml-int-names": Case("123", "r", "u", "p", namespace="0x1f"),
    "yaml-octal-binary-names": Case("0o17", "r", "u", "p", namespace="0b101"),
    "yaml-float-names": Case("1.5", "r", "u", "p", namespace="1e-3"),
    "yaml-bool-names": Case("y", "r", "u", "p", namespace="off"),
    "yaml-null-and-word": Case("null", "r", "u", "p", namespace="yes"),
    "yaml-date-names": Case("2000-02-29", "r", "u", "p", namespace="2001-1-2"),
    "not-a-date": Case("2001-02-29", "r", "u", "p", namespace="2001-13-01"),
    "not-numbers": Case("0x10000000000000000", "r", "u", "p", namespace="1e999"),
    "near-numbers": Case("0x1g", "r", "u", "p", namespace="08"),
    "huge-decimal": Case("123456789012345678901234567890", "r", "u", "p", namespace="1-2"),
}


def kubectl_yaml(case: Case, home: Path) -> str:
    kubectl = require_program("kubectl")
    args = [
        kubectl,
        "create",
        "secret",
        "docker-registry",
        case.name,
        f"--docker-server={case.server}",
        f"--docker-username={case.username}",
        f"--docker-password={case.password}",
        "--dry-run=client",
        "-o",
        "yaml",
    ]
    if case.email is not None:
        args.append(f"--docker-email={case.email}")
    if case.namespace is not None:
        args.append(f"--namespace={case.namespace}")
    # No kubeconfig, so a developer's current context cannot change the output.
    env = {"HOME": str(home), "KUBECONFIG": str(home / "no-kubeconfig"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(args, capture_output=True, env=env, check=True, timeout=60)
    return done.stdout.decode()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_kubectl(case: Case, tmp_path: Path) -> None:
    expected = kubectl_yaml(case, tmp_path)
    assert pull_secret_yaml(*case) == expected


def test_docker_config_json_layout() -> None:
    """Pins the format without kubectl, so a skipped comparison still checks something."""
    text = pull_secret_yaml("regcred", "127.0.0.1:5000", "bob", "p<&>", email="b@x.io")
    encoded = text.splitlines()[2].removeprefix("  .dockerconfigjson: ")
    raw = base64.b64decode(encoded)
    assert raw == (
        b'{"auths":{"127.0.0.1:5000":{"username":"bob","password":"p\\u003c\\u0026\\u003e",'
        b'"email":"b@x.io","auth":"Ym9iOnA8Jj4="}}}'
    )
    assert json.loads(raw)["auths"]["127.0.0.1:5000"]["password"] == "p<&>"
    assert text == (
        "apiVersion: v1\n"
        "data:\n"
        f"  .dockerconfigjson: {encoded}\n"
        "kind: Secret\n"
        "metadata:\n"
        "  creationTimestamp: null\n"
        "  name: regcred\n"
        "type: kubernetes.io/dockerconfigjson\n"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"server": ""}, "server"),
        ({"username": ""}, "username"),
        ({"password": ""}, "password"),
        ({"name": "Upper"}, "DNS-1123 subdomain"),
        ({"name": "-x"}, "DNS-1123 subdomain"),
        ({"name": "a" * 254}, "DNS-1123 subdomain"),
        ({"namespace": "a.b"}, "DNS-1123 label"),
        ({"namespace": "a" * 64}, "DNS-1123 label"),
        ({"password": "\ud800"}, "surrogate"),
    ],
)
def test_rejects_what_kubectl_or_the_api_server_would(kwargs: dict[str, str], message: str) -> None:
    args = {"name": "x", "server": "r", "username": "u", "password": "p", **kwargs}
    with pytest.raises(ValueError, match=message):
        pull_secret_yaml(**args)


# -- the click command ------------------------------------------------------------------


def test_command_prints_what_kubectl_prints(tmp_path: Path) -> None:
    case = CASES["unicode"]._replace(email="u@example.com", namespace="team-a")
    args = [case.name, "--server", case.server, "--username", case.username]
    args += ["--password", case.password, "--email", "u@example.com", "-n", "team-a"]
    result = CliRunner().invoke(pull_secret, args)
    assert result.exit_code == 0, result.output
    assert result.output == kubectl_yaml(case, tmp_path)


@pytest.mark.parametrize("stdin", ["pa ss\n", "pa ss\r\n", "pa ss"])
def test_command_password_stdin_trims_one_line_ending(stdin: str) -> None:
    result = CliRunner().invoke(
        pull_secret,
        ["regcred", "--server", "r", "--username", "u", "--password-stdin"],
        input=stdin,
    )
    assert result.exit_code == 0, result.output
    assert result.output == pull_secret_yaml("regcred", "r", "u", "pa ss")


def test_command_refuses_two_password_sources() -> None:
    result = CliRunner().invoke(
        pull_secret,
        ["x", "--server", "r", "--username", "u", "--password", "p", "--password-stdin"],
    )
    assert result.exit_code == 2
    assert "--password" in result.output


def test_command_without_password_needs_a_login(tmp_path: Path) -> None:
    # Without a password it mints one through the stored login (see the e2e test).
    result = CliRunner().invoke(
        pull_secret,
        ["x", "--server", "127.0.0.1:1"],
        env={"DOCKER_CONFIG": str(tmp_path), "CARGOHOLD_USERNAME": "", "CARGOHOLD_PASSWORD": ""},
    )
    assert result.exit_code == 1
    assert "not logged in to 127.0.0.1:1" in result.output


def test_command_reports_invalid_name() -> None:
    result = CliRunner().invoke(
        pull_secret, ["Bad_Name", "--server", "r", "--username", "u", "--password", "p"]
    )
    assert result.exit_code == 1
    assert "invalid secret name 'Bad_Name'" in result.output
