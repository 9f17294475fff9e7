"""Cargohold vs. the reference registry (CNCF distribution 2.8.2), side by side.

    python benchmarks/run.py [--quick] [--only WORKLOAD ...] [--workers N] [--profile]

Starts both registries on free loopback ports in a temporary directory, runs each
workload against both, prints a table of results with the ratio
cargohold / reference (higher is better) and the target for it, and writes
benchmarks/results/latest.json. Progress goes to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _machine  # noqa: E402
import _servers  # noqa: E402
import _wrk  # noqa: E402
from _blobclient import BlobClient  # noqa: E402

MiB = 1024 * 1024
RESULTS = HERE / "results" / "latest.json"
PYSPY = _servers.REPO_ROOT / ".venv" / "bin" / "py-spy"
SIDES = ("reference", "cargohold")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Sizes:
    blob_mib: int
    chunk_mib: int
    reps: int
    rate_duration_s: float
    rate_warmup_s: float
    connections: int
    small_images: int
    small_concurrency: int

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(32, 2, 3, 1, 1, 32, 24, 8)
        return cls(256, 16, 3, 4, 1, 32, 200, 8)


@dataclass
class Context:
    sizes: Sizes
    work: Path
    servers: dict[str, _servers.Registry]
    profile: str | None
    profile_dir: Path
    payload_path: Path = field(init=False)
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.payload_path = self.work / "payload.bin"


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    value: float
    server_cpu_s: float
    client_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def _client_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Profiler:
    """py-spy attached to the cargohold server for the span of one measurement."""

    def __init__(self, ctx: Context, server: _servers.Registry, name: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if ctx.profile is None or server.label != "cargohold" or server.proc is None:
            return
        ext = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[ctx.profile]
        out = ctx.profile_dir / f"{name}.{ext}"
        cmd = [
            str(PYSPY),
            "record",
            "--format",
            ctx.profile,
            "--output",
            str(out),
            "--rate",
            "200",
            "--subprocesses",
            "--pid",
            str(server.proc.pid),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # let it attach before the clock starts

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure(
    ctx: Context, server: _servers.Registry, name: str, fn: Callable[[], tuple[float, dict]]
) -> Sample:
    """Run ``fn`` (returning value and extras) while counting server and client CPU."""
    profiler = Profiler(ctx, server, name)
    try:
        server_before, client_before = server.cpu_seconds(), _client_cpu()
        value, extra = fn()
        server_cpu = server.cpu_seconds() - server_before
        client_cpu = _client_cpu() - client_before
    finally:
        profiler.stop()
    return Sample(value, round(server_cpu, 2), round(client_cpu, 2), extra)


# --------------------------------------------------------------------------- blob workloads


def _make_payload(ctx: Context) -> None:
    if ctx.payload_path.exists():
        return
    size = ctx.sizes.blob_mib * MiB
    log(f"preparing a {ctx.sizes.blob_mib} MiB random payload ...")
    with open(ctx.payload_path, "wb") as f:
        for _ in range(ctx.sizes.blob_mib):
            f.write(os.urandom(MiB))
    assert ctx.payload_path.stat().st_size == size


def _new_blob(ctx: Context) -> str:
    """Make the payload a never-seen blob (a fresh nonce in its first bytes); its digest."""
    _make_payload(ctx)
    nonce = os.urandom(32)
    hasher = hashlib.sha256()
    with open(ctx.payload_path, "r+b") as f:
        f.write(nonce)
        f.seek(0)
        while chunk := f.read(8 * MiB):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _client(server: _servers.Registry) -> BlobClient:
    return BlobClient(_servers.HOST, server.port)


def _rounds(
    ctx: Context,
    name: str,
    unit: str,
    prepare: Callable[[int], Any],
    one: Callable[[Any, _servers.Registry], tuple[float, dict]],
    before: Callable[[_servers.Registry], None] | None = None,
) -> dict[str, list[Sample]]:
    """``reps`` rounds; in each, both sides get the same fresh input (``prepare``) and
    the side that goes first alternates, so drift and noise from other work on the
    machine fall on both. Dirty pages are flushed before each timed run so that one
    side's writeback does not land on the other's clock."""
    samples: dict[str, list[Sample]] = {side: [] for side in SIDES}
    if before is not None:
        for side in SIDES:
            before(ctx.servers[side])
    for rep in range(ctx.sizes.reps):
        arg = prepare(rep)
        order = SIDES if rep % 2 == 0 else SIDES[::-1]
        for side in order:
            server = ctx.servers[side]
            os.sync()
            sample = measure(ctx, server, f"{name}-r{rep + 1}", lambda s=server, a=arg: one(a, s))
            log(f"  {name} round {rep + 1} {side}: {sample.value:,.1f} {unit}")
            samples[side].append(sample)
    return samples


def _timed_push(server: _servers.Registry, path: Path, digest: str, chunk: int | None) -> float:
    client = _client(server)
    try:
        client.request("GET", "/v2/")  # connect before the clock starts
        size = path.stat().st_size
        with open(path, "rb") as f:
            start = time.perf_counter()
            if chunk is None:
                client.push_monolithic("bench/blob-mono", f, size, digest)
            else:
                client.push_chunked("bench/blob-chunked", f, size, digest, chunk)
            return time.perf_counter() - start
    finally:
        client.close()


def _push_rounds(ctx: Context, name: str, chunk: int | None) -> dict[str, list[Sample]]:
    def one(digest: str, server: _servers.Registry) -> tuple[float, dict]:
        seconds = _timed_push(server, ctx.payload_path, digest, chunk)
        return ctx.sizes.blob_mib / seconds, {"seconds": round(seconds, 3)}

    return _rounds(ctx, name, "MiB/s", lambda _: _new_blob(ctx), one)


def blob_push_monolithic(ctx: Context) -> dict[str, list[Sample]]:
    return _push_rounds(ctx, "blob-push-monolithic", None)


def blob_push_chunked(ctx: Context) -> dict[str, list[Sample]]:
    return _push_rounds(ctx, "blob-push-chunked", ctx.sizes.chunk_mib * MiB)


PULLS_PER_ROUND = 8


def blob_pull(ctx: Context) -> dict[str, list[Sample]]:
    digest = _new_blob(ctx)
    size = ctx.payload_path.stat().st_size

    def before(server: _servers.Registry) -> None:
        client = _client(server)
        try:
            with open(ctx.payload_path, "rb") as f:
                client.push_monolithic("bench/blob-pull", f, size, digest)
            hasher = hashlib.sha256()  # one verified, untimed pull warms the cache
            got = client.pull("bench/blob-pull", digest, hasher)
            if got != size or "sha256:" + hasher.hexdigest() != digest:
                raise RuntimeError(f"{server.label} served a wrong blob ({got} bytes)")
        finally:
            client.close()

    def one(_: Any, server: _servers.Registry) -> tuple[float, dict]:
        # One pull from the page cache takes about 0.1 s: several back to back per
        # round, so a scheduling hiccup does not decide the round.
        client = _client(server)
        try:
            client.request("GET", "/v2/")
            start = time.perf_counter()
            for _ in range(PULLS_PER_ROUND):
                got = client.pull("bench/blob-pull", digest)
                if got != size:
                    raise RuntimeError(f"short read: {got} of {size} bytes")
            seconds = time.perf_counter() - start
        finally:
            client.close()
        mib = ctx.sizes.blob_mib * PULLS_PER_ROUND
        return mib / seconds, {"seconds": round(seconds, 3), "pulls": PULLS_PER_ROUND}

    return _rounds(ctx, "blob-pull", "MiB/s", lambda _: None, one, before)


# --------------------------------------------------------------------------- rate workloads


def _load(url: str, method: str, duration: float, ctx: Context) -> dict[str, float]:
    """Closed-loop load at ``connections``: wrk for GET, _loadgen.py for HEAD (wrk 4.1
    waits for the body a HEAD response announces and stalls)."""
    import _images

    conns = ctx.sizes.connections
    if method == "GET":
        threads = min(os.cpu_count() or 2, conns)
        stats, _ = _wrk.run(url, method, _images.ACCEPT, conns, duration, threads, ctx.work)
    else:
        cmd = [sys.executable, str(HERE / "_loadgen.py"), url, "--method", method]
        cmd += ["-c", str(conns), "-d", str(duration), "-H", f"Accept: {_images.ACCEPT}"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + 60, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"_loadgen.py failed: {proc.stderr[-2000:]}")
        stats = json.loads(proc.stdout)
    if "requests_per_s" not in stats:
        raise RuntimeError("could not parse the load generator's output")
    errors = stats["non_2xx"] + stats["socket_errors"]
    if errors:
        raise RuntimeError(f"{errors:.0f} failed requests: {stats}")
    return stats


def _manifest_rate(ctx: Context, method: str, name: str) -> dict[str, list[Sample]]:
    import _images

    path = "/v2/bench/manifest/manifests/latest"

    def before(server: _servers.Registry) -> None:
        image = ctx.state.setdefault("manifest_image", _images.make_image("latest"))
        if not ctx.state.get(f"manifest_pushed_{server.label}"):
            asyncio.run(_images.push_many(server.base_url, "bench/manifest", [image], 1, 60))
            ctx.state[f"manifest_pushed_{server.label}"] = True
        _load(server.base_url + path, method, ctx.sizes.rate_warmup_s, ctx)

    def one(_: Any, server: _servers.Registry) -> tuple[float, dict]:
        stats = _load(server.base_url + path, method, ctx.sizes.rate_duration_s, ctx)
        return stats.pop("requests_per_s"), stats

    return _rounds(ctx, name, "req/s", lambda _: None, one, before)


def manifest_get(ctx: Context) -> dict[str, list[Sample]]:
    return _manifest_rate(ctx, "GET", "manifest-get")


def manifest_head(ctx: Context) -> dict[str, list[Sample]]:
    return _manifest_rate(ctx, "HEAD", "manifest-head")


def small_image_push(ctx: Context) -> dict[str, list[Sample]]:
    import _images

    sizes = ctx.sizes
    deadline = 120.0

    def before(server: _servers.Registry) -> None:
        warmup = [_images.make_image(f"warm-{i}") for i in range(sizes.small_concurrency)]
        asyncio.run(_images.push_many(server.base_url, "bench/warmup", warmup, 8, 60))

    def prepare(rep: int) -> list:
        # Fresh images every round (the same ones for both sides): nothing to skip.
        return [_images.make_image(f"r{rep}-{i}") for i in range(sizes.small_images)]

    def one(images: list, server: _servers.Registry) -> tuple[float, dict]:
        seconds, done = asyncio.run(
            _images.push_many(
                server.base_url, "bench/small", images, sizes.small_concurrency, deadline
            )
        )
        if done < len(images):
            raise RuntimeError(f"only {done} of {len(images)} images in {deadline:.0f} s")
        return done / seconds, {"images": done, "seconds": round(seconds, 3)}

    return _rounds(ctx, "small-image-push", "images/s", prepare, one, before)


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str
    target: float
    fn: Callable[[Context], dict[str, list[Sample]]]
    about: str


WORKLOADS = [
    Workload(
        "blob-push-monolithic",
        "MiB/s",
        2.0,
        blob_push_monolithic,
        "POST, then one PUT ?digest= with the whole blob",
    ),
    Workload(
        "blob-push-chunked",
        "MiB/s",
        2.0,
        blob_push_chunked,
        "POST, PATCH chunks with Content-Range, empty PUT ?digest=",
    ),
    Workload("blob-pull", "MiB/s", 1.0, blob_pull, "GET the blob, stream and discard"),
    Workload("manifest-get", "req/s", 5.0, manifest_get, "GET manifest by tag, wrk"),
    Workload("manifest-head", "req/s", 5.0, manifest_head, "HEAD manifest by tag, wrk"),
    Workload(
        "small-image-push",
        "images/s",
        3.0,
        small_image_push,
        "config + layer + manifest per image, concurrent workers",
    ),
]
BY_NAME = {w.name: w for w in WORKLOADS}
CLIENTS = {
    "blobs": "http.client + socket.sendfile upload, readinto a reused 1 MiB buffer (_blobclient)",
    "manifest-get": "wrk 4.1, threads = cores, keep-alive",
    "manifest-head": "_loadgen.py (uvloop, raw HTTP/1.1, keep-alive): wrk 4.1 stalls on HEAD",
    "small-image-push": "asyncio streams, raw HTTP/1.1, one keep-alive connection per worker",
}


def summarize(workload: Workload, samples: dict[str, list[Sample]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "unit": workload.unit,
        "target_ratio": workload.target,
        "description": workload.about,
    }
    for side in SIDES:
        rows = samples.get(side, [])
        out[side] = {
            "value": round(statistics.median(s.value for s in rows), 2) if rows else None,
            "samples": [round(s.value, 2) for s in rows],
            "server_cpu_s": [s.server_cpu_s for s in rows],
            "client_cpu_s": [s.client_cpu_s for s in rows],
            "extra": [s.extra for s in rows],
        }
    ref, ours = out["reference"]["value"], out["cargohold"]["value"]
    out["ratio"] = round(ours / ref, 3) if ref and ours is not None else None
    out["met"] = out["ratio"] is not None and out["ratio"] >= workload.target
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 1000 else f"{value:,.1f}"


def print_table(
    results: dict[str, Any], machine: dict[str, Any], workers: int, background: dict[str, Any]
) -> None:
    header = ("workload", "unit", "reference", "cargohold", "ratio", "target", "met")
    rows = []
    for name, r in results.items():
        if "error" in r and r.get("ratio") is None:
            rows.append(
                (name, r.get("unit", ""), "-", "-", "-", f">= {r['target_ratio']}", "ERROR")
            )
            continue
        ratio = r["ratio"]
        rows.append(
            (
                name,
                r["unit"],
                _fmt(r["reference"]["value"]),
                _fmt(r["cargohold"]["value"]),
                "-" if ratio is None else f"{ratio:.2f}",
                f">= {r['target_ratio']}",
                "yes" if r["met"] else "NO",
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple) -> str:
        cells = [
            str(c).ljust(w) if i in (0, 1, 6) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    print()
    print(
        f"Cargohold ({workers} worker{'s' if workers != 1 else ''}) vs reference "
        "(distribution 2.8.2); ratio = cargohold / reference, higher is better"
    )
    print(line(header))
    print(line(tuple("-" * w for w in widths)))
    for row in rows:
        print(line(row))
    print()
    print("Server CPU seconds per measurement (median; reference / cargohold), client CPU:")
    for name, r in results.items():
        if r.get("ratio") is None:
            continue
        ref = statistics.median(r["reference"]["server_cpu_s"])
        ours = statistics.median(r["cargohold"]["server_cpu_s"])
        cli = statistics.median(r["reference"]["client_cpu_s"] + r["cargohold"]["client_cpu_s"])
        print(f"  {name:<22} server {ref:6.2f} / {ours:6.2f}   client {cli:6.2f}")
    for name, r in results.items():
        if "error" in r:
            print(f"  ERROR in {name}: {r['error']}")
    print()
    print(
        f"Machine: {machine['cpu_count']} cores ({machine['cpu_model']}); "
        f"sha256 one core {machine['sha256_one_core_mib_s']:,.0f} MiB/s; "
        f"disk write+fsync {machine['disk_write_fsync_mib_s']:,.0f} MiB/s; "
        f"small durable writes {machine['small_durable_writes_per_s']:,.0f}/s; "
        f"loopback TCP {machine['loopback_tcp_mib_s']:,.0f} MiB/s"
    )
    if background:
        note = (
            "  (noisy: other work was running)" if background["other_pct_of_machine"] > 10 else ""
        )
        print(
            f"Other processes used {background['other_pct_of_machine']:.0f}% of the machine's "
            f"CPU during the run (steal {background['steal_pct_of_machine']:.0f}%){note}"
        )


# --------------------------------------------------------------------------- main


def _background(
    servers: dict[str, _servers.Registry], start: dict[str, int], wall: float, client_cpu: float
) -> dict[str, Any]:
    """CPU the rest of the machine used while we ran: a noise gauge for shared hosts."""
    end = _machine.cpu_jiffies()
    tick = os.sysconf("SC_CLK_TCK")
    busy = (end["busy"] - start["busy"]) / tick
    steal = (end["steal"] - start["steal"]) / tick
    ours = client_cpu + sum(s.cpu_seconds() for s in servers.values())
    cores = os.cpu_count() or 1
    other = max(busy - ours, 0.0)
    return {
        "wall_s": round(wall, 1),
        "our_cpu_s": round(ours, 1),
        "other_cpu_s": round(other, 1),
        "other_pct_of_machine": round(100 * other / (wall * cores), 1) if wall else 0.0,
        "steal_pct_of_machine": round(100 * steal / (wall * cores), 1) if wall else 0.0,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BY_NAME),
        metavar="WORKLOAD",
        help=f"run only this workload (repeatable): {', '.join(BY_NAME)}",
    )
    parser.add_argument("--workers", type=int, default=1, help="cargohold server processes")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="flamegraph",
        choices=["flamegraph", "speedscope", "raw"],
        help="record cargohold with py-spy during each measurement "
        "(into benchmarks/results/profiles/; slows cargohold down)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [
        str(p) for p in (_servers.CARGOHOLD_BIN, _servers.DISTRIBUTION_BIN) if not p.exists()
    ]
    if missing:
        sys.exit(f"missing: {', '.join(missing)}")
    selected = [BY_NAME[n] for n in args.only] if args.only else WORKLOADS
    if not _wrk.available() and any(w.name.startswith("manifest") for w in selected):
        sys.exit("wrk is needed: apt-get install -y wrk")
    if args.profile and not PYSPY.exists():
        sys.exit(f"py-spy is needed for --profile: {PYSPY.parent}/pip install py-spy")

    # Make `kill` behave like Ctrl-C, so the finally below stops both servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = Sizes.for_mode(args.quick)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cargohold-bench-"))
    profile_dir = HERE / "results" / "profiles"
    if args.profile:
        profile_dir.mkdir(parents=True, exist_ok=True)
        log(f"profiling cargohold with py-spy into {profile_dir} (its numbers will suffer)")
    servers: dict[str, _servers.Registry] = {
        "reference": _servers.Distribution("reference", work / "reference"),
        "cargohold": _servers.Cargohold("cargohold", work / "cargohold", args.workers),
    }
    results: dict[str, Any] = {}
    background: dict[str, Any] = {}
    try:
        idle_busy = _machine.busy_fraction()
        if idle_busy > 0.1:
            log(
                f"WARNING: the machine is already {idle_busy:.0%} busy before we start; "
                "results will be noisy"
            )
        machine = _machine.measure(work, args.quick, log)
        machine["busy_before_start_pct"] = round(100 * idle_busy, 1)
        jiffies_start, wall_start, client_start = (
            _machine.cpu_jiffies(),
            time.monotonic(),
            _client_cpu(),
        )
        for server in servers.values():
            log(f"starting {server.label} on {server.base_url} ...")
            server.start()
        ctx = Context(sizes, work, servers, args.profile, profile_dir)
        for workload in selected:
            log(f"{workload.name}: {workload.about}")
            try:
                results[workload.name] = summarize(workload, workload.fn(ctx))
            except Exception as exc:
                log(f"  FAILED: {exc}")
                results[workload.name] = {
                    "unit": workload.unit,
                    "target_ratio": workload.target,
                    "description": workload.about,
                    "error": f"{type(exc).__name__}: {exc}"[:1000],
                    "ratio": None,
                    "met": False,
                }
            for server in servers.values():
                if server.proc is not None and server.proc.poll() is not None:
                    raise RuntimeError(f"{server.label} died:\n{server.log_tail()}")
        background = _background(
            servers, jiffies_start, time.monotonic() - wall_start, _client_cpu() - client_start
        )
    finally:
        for server in servers.values():
            server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(work)

    report = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "cargohold_workers": args.workers,
        "sizes": sizes.__dict__,
        "clients": CLIENTS,
        "machine": machine,
        "background_load": background,
        "results": results,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(results, machine, args.workers, background)
    print(f"JSON: {args.output}   ({report['elapsed_s']:.0f} s)")
    return 0 if all(r.get("ratio") is not None for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
