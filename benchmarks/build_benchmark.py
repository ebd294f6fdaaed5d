"""Wall time of `usage-billing build` over generated events: a full build, a no-op rebuild, and an
incremental build after adding ~1 % new events. Prints a Markdown table and writes it to
benchmarks/results-<events>.md. Not part of the test suite.

    .venv/bin/python -m benchmarks.build_benchmark --events 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB of the largest child so far)."""
    started = time.monotonic()
    subprocess.run(cmd, env=env, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kb / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--format", default="ndjson", choices=["ndjson", "ndjson.gz", "parquet"])
    parser.add_argument(
        "--workdir", default=None, help="Where to put events and the warehouse (default: a temp dir)"
    )
    args = parser.parse_args(argv)

    from orchestration.events.generator import generate_events

    work = Path(args.workdir or tempfile.mkdtemp(prefix="usage-billing-bench-"))
    events_dir, catalog_dir = work / "events", work / "catalog"
    db = work / "warehouse.duckdb"
    for stale in (db, Path(str(db) + ".wal")):
        stale.unlink(missing_ok=True)

    t0 = time.monotonic()
    generate_events(
        events_dir,
        events=args.events,
        accounts=args.accounts,
        months=args.months,
        seed=1,
        fmt=args.format,
        catalog_dir=REPO_ROOT / "seeds",
        write_catalog=catalog_dir,
    )
    gen_s = time.monotonic() - t0

    env = dict(os.environ)
    env.update(
        USAGE_BILLING_EVENTS=str(events_dir) + "/**/*",
        USAGE_BILLING_DUCKDB=str(db),
        USAGE_BILLING_CATALOG=str(catalog_dir),
        DAGSTER_HOME=str(work / "dagster_home"),
    )
    (work / "dagster_home").mkdir(exist_ok=True)
    cli = [sys.executable, "-m", "orchestration.cli", "build", "--quiet", "--log-level", "WARNING"]

    full_s, full_rss = _run(cli, env)
    noop_s, _ = _run(cli, env)

    extra_dir = work / "extra"
    generate_events(
        extra_dir,
        events=max(args.events // 100, 1),
        accounts=args.accounts,
        months=1,
        seed=2,
        start=f"2026-{args.months:02d}-01",
        fmt=args.format,
        catalog_dir=REPO_ROOT / "seeds",
    )
    for i, f in enumerate(sorted(extra_dir.iterdir())):
        f.rename(events_dir / f"zz_increment_{i}_{f.name}")
    incr_s, _ = _run(cli, env)

    rows = [
        ("generate events", gen_s),
        ("full build (`usage-billing build`)", full_s),
        ("rebuild with no new file", noop_s),
        ("incremental build, +1 % events in a new file", incr_s),
    ]
    header = (
        f"Benchmark {dt.date.today()}: {args.events:,} {args.format} events, {args.accounts} accounts, "
        f"{args.months} months; {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"duckdb {version('duckdb')}, dbt-core {version('dbt-core')}, dagster {version('dagster')}"
    )
    table = [header, "", "| step | wall time (s) | events/s |", "|---|---:|---:|"]
    for name, seconds in rows:
        rate = f"{args.events / seconds:,.0f}" if "full" in name else ""
        table.append(f"| {name} | {seconds:.1f} | {rate} |")
    table.append("")
    table.append(f"Peak RSS of the largest process (dbt/DuckDB): {full_rss:,.0f} MB")
    text = "\n".join(table)
    print(text)
    out = REPO_ROOT / "benchmarks" / f"results-{args.events}.md"
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
