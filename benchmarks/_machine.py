"""The machine's own limits, measured for context next to the registry numbers."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import threading
import time
from pathlib import Path

MiB = 1024 * 1024


def sha256_mib_s(total_mib: int) -> float:
    """hashlib.sha256 on one core, fed 8 MiB chunks."""
    chunk = os.urandom(8 * MiB)
    hasher = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(total_mib // 8):
        hasher.update(chunk)
    return total_mib / (time.perf_counter() - start)


def disk_write_fsync_mib_s(directory: Path, total_mib: int) -> float:
    """Write ``total_mib`` in 8 MiB writes to a new file, then fsync it."""
    chunk = os.urandom(8 * MiB)
    path = directory / "disk-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        start = time.perf_counter()
        for _ in range(total_mib // 8):
            os.write(fd, chunk)
        os.fsync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return total_mib / elapsed


def small_fsyncs_per_s(directory: Path, count: int, budget_s: float = 5.0) -> float:
    """Create a 4 KiB file, fsync it, rename it, fsync the directory: per second.

    Roughly the durable-write pattern of a small blob push.
    """
    data = os.urandom(4096)
    done = 0
    start = time.perf_counter()
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            tmp, final = directory / f"small-{i}.tmp", directory / f"small-{i}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            os.fsync(dir_fd)
            done += 1
            if time.perf_counter() - start > budget_s:
                break
        elapsed = time.perf_counter() - start
    finally:
        os.close(dir_fd)
        for i in range(done + 1):
            for name in (f"small-{i}.tmp", f"small-{i}"):
                (directory / name).unlink(missing_ok=True)
    return done / elapsed


def loopback_mib_s(total_mib: int) -> float:
    """One TCP stream over 127.0.0.1: a thread sends 1 MiB buffers, we receive them."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    payload = os.urandom(MiB)

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for _ in range(total_mib):
                sock.sendall(payload)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    conn, _ = listener.accept()
    buf = bytearray(MiB)
    view = memoryview(buf)
    received = 0
    expected = total_mib * MiB
    start = time.perf_counter()
    with conn:
        conn.settimeout(60)
        while received < expected:
            n = conn.recv_into(view)
            if not n:
                break
            received += n
    elapsed = time.perf_counter() - start
    sender.join(timeout=10)
    listener.close()
    return received / MiB / elapsed


def measure(directory: Path, quick: bool, log: object) -> dict[str, object]:
    def say(msg: str) -> None:
        log(msg)  # type: ignore[operator]

    scale = 4 if quick else 1
    say("machine: sha256 on one core ...")
    sha = sha256_mib_s(1024 // scale)
    say("machine: disk write + fsync ...")
    disk = disk_write_fsync_mib_s(directory, 256 // scale)
    say("machine: small durable writes (4 KiB + fsync + rename + dir fsync) ...")
    small = small_fsyncs_per_s(directory, 400 // scale)
    say("machine: loopback TCP throughput ...")
    loop = loopback_mib_s(2048 // scale)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "sha256_one_core_mib_s": round(sha, 1),
        "disk_write_fsync_mib_s": round(disk, 1),
        "small_durable_writes_per_s": round(small, 1),
        "loopback_tcp_mib_s": round(loop, 1),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_jiffies() -> dict[str, int]:
    """Machine-wide CPU time from /proc/stat: busy (user..softirq), idle, steal."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return {
        "busy": user + nice + system + irq + softirq,
        "idle": idle + iowait,
        "steal": steal,
    }


def busy_fraction(seconds: float = 1.0) -> float:
    """How busy the whole machine is right now (0..1 of all cores), before we start."""
    before = cpu_jiffies()
    time.sleep(seconds)
    after = cpu_jiffies()
    busy = after["busy"] - before["busy"]
    total = busy + after["idle"] - before["idle"] + after["steal"] - before["steal"]
    return busy / total if total else 0.0
