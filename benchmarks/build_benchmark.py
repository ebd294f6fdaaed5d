"""Benchmark of the project's build against its two yardsticks, on the same generated files.

Steps, in one run:
  1. generate N events with the project's generator (NDJSON, gzip NDJSON or Parquet);
  2. the column-scan floor and the hand-written single DuckDB query (benchmarks/queries.py);
  3. fixed start-up: `usage-billing build` over an events folder holding one empty file, into a fresh warehouse
     (Dagster, dbt parse and every dbt node on no rows: what a build costs whatever the volume),
     the median of three runs;
  4. the full build (`usage-billing build`, through Dagster, as users run it);
  5. a rebuild with no new file, and an incremental build after adding 1 % new events in a new file.
Each step's wall time and the peak RSS of its largest process are measured apart
(benchmarks/measure.py). For the full build, the rebuild and the incremental build, dbt's run_results.json
gives dbt's elapsed time, the sum of its nodes' own times and the slowest nodes.
Prints a Markdown table and writes it to benchmarks/results-<events>-<format>.md. Not part of the tests.

    .venv/bin/python -m benchmarks.build_benchmark --events 10000000
    .venv/bin/python -m benchmarks.build_benchmark --events 100000000 --skip-yardsticks --memory-limit 4GB
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Run cmd under benchmarks.measure; return its wall time, peak RSS and stdout lines."""
    wrapped = [sys.executable, "-m", "benchmarks.measure", "--", *cmd]
    completed = subprocess.run(wrapped, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}")
    measured = json.loads(lines[-1])
    measured["stdout"] = lines[:-1]
    return measured


def _dbt_run(since: float, count: int = 6) -> dict:
    """From the newest dbt run_results.json written after `since`: the slowest nodes, dbt's elapsed time
    and the sum of all nodes' own times (steadier than a build's wall time on a busy machine)."""
    candidates = [p for p in (REPO_ROOT / "target").rglob("run_results.json") if p.stat().st_mtime >= since]
    if not candidates:
        return {}
    newest = max(candidates, key=lambda p: p.stat().st_mtime)
    run = json.loads(newest.read_text())
    timed = sorted(
        ((r["unique_id"].split(".")[-1], r["execution_time"]) for r in run["results"]), key=lambda x: -x[1]
    )
    return {
        "slowest": timed[:count],
        "elapsed_s": run["elapsed_time"],
        "node_sum_s": sum(t for _, t in timed),
        "nodes": len(timed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument(
        "--files", type=int, default=None, help="Number of event files (default: generator's)"
    )
    parser.add_argument("--format", default="ndjson", choices=["ndjson", "ndjson.gz", "parquet"])
    parser.add_argument(
        "--workdir", default=None, help="Where to put events and warehouse (default: a temp dir)"
    )
    parser.add_argument("--reuse-events", action="store_true", help="Keep events already in --workdir")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit for the build (e.g. 4GB)")
    parser.add_argument("--skip-yardsticks", action="store_true", help="Do not run the floor and hand query")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory")
    args = parser.parse_args(argv)

    from orchestration.events.generator import generate_events

    work = Path(args.workdir or tempfile.mkdtemp(prefix="usage-billing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    events_dir, catalog_dir, empty_dir = work / "events", work / "catalog", work / "no-events"
    empty_dir.mkdir(exist_ok=True)
    # One empty event file: a location that never matched a file is an error (docs/operations.md).
    (empty_dir / "empty.ndjson").touch()

    gen_s = None
    if not (args.reuse_events and events_dir.is_dir() and any(events_dir.iterdir())):
        shutil.rmtree(events_dir, ignore_errors=True)
        t0 = time.monotonic()
        generate_events(
            events_dir,
            events=args.events,
            accounts=args.accounts,
            months=args.months,
            seed=1,
            fmt=args.format,
            files=args.files,
            catalog_dir=REPO_ROOT / "seeds",
            write_catalog=catalog_dir,
        )
        gen_s = time.monotonic() - t0
    # Freshly written event files are still being flushed to disk; finish that before timing anything.
    os.sync()
    for stale in work.glob("*.duckdb*"):
        stale.unlink()
    shutil.rmtree(work / "dagster_home", ignore_errors=True)
    (work / "dagster_home").mkdir()

    glob = str(events_dir) + "/**/*"
    base_env = dict(os.environ)
    base_env.update(
        USAGE_BILLING_CATALOG=str(catalog_dir),
        DAGSTER_HOME=str(work / "dagster_home"),
    )
    if args.memory_limit:
        base_env["USAGE_BILLING_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    cli = [sys.executable, "-m", "orchestration.cli", "build", "--quiet", "--log-level", "WARNING"]
    query_fmt = "parquet" if args.format == "parquet" else "ndjson"

    # Every step reads the files from the page cache, the first one included.
    for f in sorted(events_dir.rglob("*")):
        if f.is_file():
            with f.open("rb") as fh:
                while fh.read(1 << 24):
                    pass

    rows: list[tuple[str, dict]] = []
    if not args.skip_yardsticks:
        for name, query in (
            ("column-scan floor (DuckDB)", "floor"),
            ("hand-written single DuckDB query", "hand"),
        ):
            cmd = [sys.executable, "-m", "benchmarks.queries", query, "--events", glob, "--format", query_fmt]
            cmd += ["--catalog", str(catalog_dir)]
            rows.append((name, _measure(cmd, base_env)))

    fixed_env = dict(
        base_env, USAGE_BILLING_EVENTS=str(empty_dir) + "/*", USAGE_BILLING_DUCKDB=str(work / "fixed.duckdb")
    )
    _measure(cli, fixed_env)  # the first run also parses the project for this environment
    # Every figure "beyond fixed start-up" subtracts this one, so it is the median of three runs.
    fixed_runs = []
    for _ in range(3):
        for stale in work.glob("fixed.duckdb*"):
            stale.unlink()
        fixed_runs.append(_measure(cli, fixed_env))
    fixed_runs.sort(key=lambda m: m["wall_s"])
    fixed_walls = [m["wall_s"] for m in fixed_runs]
    fixed = dict(fixed_runs[1], peak_rss_mb=max(m["peak_rss_mb"] for m in fixed_runs))
    rows.append(("fixed start-up (Dagster + dbt, no events)", fixed))

    env = dict(base_env, USAGE_BILLING_EVENTS=glob, USAGE_BILLING_DUCKDB=str(work / "warehouse.duckdb"))
    # The manifest depends on these paths: parse once for them first, as for the fixed start-up.
    prepare = "from orchestration.cli import _prepare_dbt; _prepare_dbt()"
    subprocess.run([sys.executable, "-c", prepare], env=env, cwd=REPO_ROOT, check=True)
    started = time.time()
    full = _measure(cli, env)
    dbt_full = _dbt_run(started)
    rows.append(("full build (`usage-billing build`)", full))
    started = time.time()
    rows.append(("rebuild, no new file", _measure(cli, env)))
    dbt_rebuild = _dbt_run(started)

    extra_dir = work / "extra"
    shutil.rmtree(extra_dir, ignore_errors=True)
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
    added = []
    for i, f in enumerate(sorted(extra_dir.iterdir())):
        target = events_dir / f"zz_increment_{i}_{f.name}"
        f.rename(target)
        added.append(target)
    os.sync()
    started = time.time()
    rows.append(("incremental build, +1 % events in a new file", _measure(cli, env)))
    dbt_incremental = _dbt_run(started)
    for f in added:  # leave the events as generated, so --reuse-events compares like with like
        f.unlink()

    measured = dict(rows)
    fixed_s = measured["fixed start-up (Dagster + dbt, no events)"]["wall_s"]
    full_s = full["wall_s"]
    incr_s = measured["incremental build, +1 % events in a new file"]["wall_s"]

    header = (
        f"Benchmark {dt.date.today()}: {args.events:,} {args.format} events, {args.accounts} accounts, "
        f"{args.months} months; {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"Python {platform.python_version()}, duckdb {version('duckdb')}, dbt-core {version('dbt-core')}, "
        f"dbt-duckdb {version('dbt-duckdb')}, dagster {version('dagster')}; "
        f"DuckDB memory_limit {args.memory_limit or base_env.get('USAGE_BILLING_DUCKDB_MEMORY_LIMIT', '4GB (default)')}"
    )
    table = [header, ""]
    if gen_s is not None:
        table.append(f"Generating the events took {gen_s:.1f} s.")
        table.append("")
    table += [
        "| step | wall time (s) | beyond fixed start-up (s) | peak RSS (MB) | events/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in rows:
        beyond = f"{m['wall_s'] - fixed_s:.1f}" if "build" in name and "fixed" not in name else ""
        rate = f"{args.events / m['wall_s']:,.0f}" if name.startswith(("full", "column", "hand")) else ""
        table.append(f"| {name} | {m['wall_s']:.1f} | {beyond} | {m['peak_rss_mb']:,.0f} | {rate} |")
    table.append("")
    ratios = []
    if "column-scan floor (DuckDB)" in measured:
        floor_s = measured["column-scan floor (DuckDB)"]["wall_s"]
        hand_s = measured["hand-written single DuckDB query"]["wall_s"]
        ratios += [
            f"- full build / floor: {full_s / floor_s:.1f}×",
            f"- full build / hand-written query: {full_s / hand_s:.1f}×; "
            f"beyond fixed start-up: {(full_s - fixed_s) / hand_s:.1f}× (target 1.5×)",
        ]
    ratios += [
        f"- incremental (+1 %) beyond fixed start-up: {incr_s - fixed_s:.1f} s = "
        f"{100 * (incr_s - fixed_s) / (full_s - fixed_s):.1f} % of the full build beyond it (target ≤ 5 %)",
        f"- fixed start-up: {fixed_s:.1f} s (target < 10 s; median of "
        + ", ".join(f"{w:.1f}" for w in fixed_walls)
        + " s)",
    ]
    table += ratios
    for build, run in (
        ("full build", dbt_full),
        ("rebuild", dbt_rebuild),
        ("incremental build", dbt_incremental),
    ):
        if run:
            table += [
                "",
                f"dbt in the {build}: {run['elapsed_s']:.1f} s elapsed, its {run['nodes']} nodes' own times "
                f"add up to {run['node_sum_s']:.1f} s; slowest (s): "
                + ", ".join(f"{n} {t:.1f}" for n, t in run["slowest"]),
            ]
    text = "\n".join(table)
    print(text)
    out = REPO_ROOT / "benchmarks" / f"results-{args.events}-{args.format}.md"
    out.write_text(text + "\n")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
