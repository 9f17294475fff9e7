"""Drive ``wrk`` (C, epoll, LuaJIT) for fixed-duration request-rate workloads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

LUA = """\
wrk.method = "{method}"
wrk.headers["Accept"] = "{accept}"
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> dict[str, float]:
    """Requests/s, latency percentiles (ms), and error counts from wrk's report."""
    result: dict[str, float] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match:
        result["requests_per_s"] = float(match.group(1))
    match = re.search(r"(\d+) requests in ([\d.]+\w+)", output)
    if match:
        result["requests"] = int(match.group(1))
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.MULTILINE)
        if match:
            result[f"latency_p{pct}_ms"] = round(_ms(match.group(1)), 3)
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    return result


def run(
    url: str,
    method: str,
    accept: str,
    connections: int,
    duration_s: float,
    threads: int,
    script_dir: Path,
) -> tuple[dict[str, float], str]:
    script = script_dir / f"wrk-{method.lower()}.lua"
    script.write_text(LUA.format(method=method, accept=accept))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(round(duration_s), 1)}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse(proc.stdout), proc.stdout
