"""Events in object storage against the same files on local disk (docs/object_storage.md, issue 21).

A real S3-API server (moto's, on 127.0.0.1, in this process) serves a bucket; the same files are written
to a local folder. Two cases:
  1. many small objects (default 10,000 NDJSON objects of 5 events): the listing (intake.list_files,
     median of 3) and the full build (`usage-billing build`, through Dagster, as users run it);
  2. 1,000,000 events in a handful of gzip NDJSON objects (the project's generator): listing and build.
Each build goes into a fresh warehouse. Not part of the tests. moto keeps objects in memory and answers
from one Python thread, so object-storage figures here are an upper bound for a real store nearby.

    PYTHONPATH=. .venv/bin/python -m benchmarks.object_storage
    PYTHONPATH=. .venv/bin/python -m benchmarks.object_storage --objects 1000 --events 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"


def _small_files(folder: Path, objects: int) -> None:
    """`objects` files of 5 events each, 100 per folder, spread over January 2026."""
    for i in range(objects):
        path = folder / f"part-{i // 100:03d}" / f"events-{i:05d}.ndjson"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps(
                {
                    "event_id": f"small-{i}-{j}",
                    "account_id": f"acct_{1 + (i * 5 + j) % 12:04d}",
                    "timestamp": f"2026-01-{1 + i % 28:02d}T{j:02d}:00:00Z",
                    "endpoint": "/v1/users",
                }
            )
            for j in range(5)
        ]
        path.write_text("\n".join(lines) + "\n")


def _upload(client, folder: Path, prefix: str) -> float:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda p: client.upload_file(str(p), BUCKET, prefix + p.relative_to(folder).as_posix()), files
            )
        )
    return time.monotonic() - started


def _listing(pattern: str) -> tuple[float, int]:
    from orchestration.events import intake

    times, count = [], 0
    for _ in range(3):
        started = time.monotonic()
        count = len(intake.list_files(pattern))
        times.append(time.monotonic() - started)
    return statistics.median(times), count


def _build(work: Path, name: str, events: str, env: dict[str, str]) -> float:
    home = work / f"home-{name}"
    home.mkdir()
    run_env = dict(
        env,
        PYTHONPATH=str(REPO_ROOT),
        USAGE_BILLING_EVENTS=events,
        USAGE_BILLING_DUCKDB=str(work / f"{name}.duckdb"),
        DAGSTER_HOME=str(home),
    )
    # The manifest depends on the location: parse first, outside the timing (as build_benchmark does).
    prepare = "from orchestration.cli import _prepare_dbt; _prepare_dbt()"
    subprocess.run(
        [sys.executable, "-c", prepare], env=run_env, cwd=REPO_ROOT, check=True, capture_output=True
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build", "--quiet", "--log-level", "WARNING"],
        env=run_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
        raise SystemExit(f"build {name} failed")
    return elapsed


@dataclass
class CaseResult:
    text: str
    count: int


def _case(client, work: Path, folder: Path, name: str, label: str, env: dict[str, str], args) -> CaseResult:
    """Upload the folder under <name>/, then list (and unless --no-builds, build) it from S3 and from disk.
    `label` may name the listed objects' count as {count}."""
    upload = _upload(client, folder, f"{name}/")
    s3_list, n = _listing(f"s3://{BUCKET}/{name}/**/*")
    local_list, m = _listing(f"{folder}/**/*")
    assert n == m, (n, m)
    text = (
        f"{label.format(count=n)}; upload {upload:.1f}s): listing S3 {s3_list:.2f}s, local {local_list:.3f}s"
    )
    if not args.no_builds:
        s3_build = _build(work, f"{name}-s3", f"s3://{BUCKET}/{name}/**/*", env)
        local_build = _build(work, f"{name}-local", f"{folder}/**/*", env)
        text += f"; full build S3 {s3_build:.1f}s, local {local_build:.1f}s"
    return CaseResult(text, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000, help="Small objects of case 1")
    parser.add_argument("--events", type=int, default=1_000_000, help="Events of case 2")
    parser.add_argument("--files", type=int, default=4, help="Objects of case 2")
    parser.add_argument("--no-builds", action="store_true", help="Listing only")
    args = parser.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    from orchestration.generator import generate_events

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(aws)  # this process lists through s3fs, which reads the SDK's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGE_BILLING_", "DAGSTER_HOME"))}
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    try:
        with tempfile.TemporaryDirectory(prefix="object-storage-bench-") as tmp:
            work = Path(tmp)
            small = work / "small"
            _small_files(small, args.objects)
            result = _case(client, work, small, "small", "{count:,} small objects (5 events each", env, args)
            assert result.count == args.objects
            print(result.text, flush=True)

            big = work / "big"
            generate_events(
                big, events=args.events, accounts=1000, months=3, seed=1, fmt="ndjson.gz", files=args.files
            )
            size = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
            label = f"{args.events:,} events in {{count}} gzip objects ({size / 1e6:.0f} MB"
            print(_case(client, work, big, "big", label, env, args).text, flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
