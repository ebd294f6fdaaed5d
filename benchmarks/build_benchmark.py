"""Benchmark of the project's build against its three yardsticks, on the same generated files, at one
history size (`--events N`) or along a history curve (`--history 1000000,10000000,30000000`).

Once per invocation: the empty start-up, `usage-billing build` over an events folder holding one empty
file, into a fresh warehouse (Dagster, dbt parse and every dbt node on no rows: what any build costs,
whatever the history), the median of three runs. Then for each history size:
  1. N events with the project's generator (NDJSON, gzip NDJSON or Parquet), 3 months by default;
  2. the yardsticks (benchmarks/queries.py): the column-scan floor, the hand-written query that parses
     every line as text, and the lean typed query (benchmarks/lean_query.py), whose invoice totals are
     then compared with the build's marts.fct_invoices;
  3. the full build (`usage-billing build`, through Dagster, as users run it), then `usage-billing close`
     of the first month (so that late events meet a closed period, as they do in production);
  4. a no-op build (no new file);
  5. the realistic increment: one new file of 20,000 events (the hour after the history's end, ~1 % late
     events, half in the closed month, ~1 % exact re-sends, ~0.2 % re-sends with an earlier timestamp that
     replace the kept copy; benchmarks/increment.py);
  6. the old +1 % file: 1 % more events in new files spread over all the history's days.
Each step's wall time and the peak RSS of its largest process are measured apart (benchmarks/measure.py);
"beyond start-up" is a step's wall time minus the empty start-up. For the builds, dbt's run_results.json
gives dbt's elapsed time, the sum of its nodes' own times and the slowest nodes.

Output: `--events` writes benchmarks/results-<events>-<format>.md; `--history` writes one table per size,
the summary and issue 18's targets (met or not) to benchmarks/results-history-<format>.md and the plot to
docs/img/scaling-history.png (matplotlib: `pip install -e '.[bench]'`). Not part of the tests.

    .venv/bin/python -m benchmarks.build_benchmark --events 10000000
    .venv/bin/python -m benchmarks.build_benchmark --history 1000000,10000000,30000000
    .venv/bin/python -m benchmarks.build_benchmark --history 100000000 --no-yardsticks --memory-limit 4GB
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
    from orchestration.warehouse.project import target_dir

    candidates = [p for p in target_dir().rglob("run_results.json") if p.stat().st_mtime >= since]
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


def _month_add(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, day.day)


def _warm(folder: Path) -> None:
    """Read every file once, so every step reads the events from the page cache, the first one included."""
    os.sync()  # freshly written files are still being flushed to disk; finish that before timing anything
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            with f.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def _compare_totals(warehouse: Path, lean_invoices: Path) -> dict:
    """The lean query's invoices against the build's marts.fct_invoices, by account and period start."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        path = str(lean_invoices).replace("'", "''")
        con.execute(f"create temp view lean as select * from read_parquet('{path}')")
        joined = """
            from marts.fct_invoices as build
            full join lean
                on build.account_id = lean.account_id and build.period_start = lean.period_start
        """
        same_money = (
            "build.subtotal = lean.subtotal and build.credits_applied = lean.credits_applied "
            "and build.total = lean.total"
        )
        invoices, same = con.execute(
            f"select count(*), count(*) filter (where {same_money}) {joined}"
        ).fetchone()
        examples = con.execute(
            f"""select coalesce(build.account_id, lean.account_id), coalesce(build.period_start, lean.period_start),
                build.total, lean.total {joined} where not coalesce({same_money}, false) order by 1, 2 limit 5"""
        ).fetchall()
        # E2 breaks a tie on (timestamp, file) by line number, which DuckDB's JSON reader does not give the
        # lean query: where a conflicting copy ties with the kept one in the same file, its pick is arbitrary.
        tied = con.execute(
            f"""select count(*) {joined}
            where not coalesce({same_money}, false) and exists (
                select 1 from marts.event_conflicts as ties
                where ties.kept_account_id = build.account_id
                    and ties.kept_event_at >= build.period_start and ties.kept_event_at < build.period_end
                    and ties.event_at = ties.kept_event_at and ties.source_file = ties.kept_source_file
            )"""
        ).fetchone()[0]
    finally:
        con.close()
    return {
        "invoices": invoices,
        "same": same,
        "differ": invoices - same,
        "differ_with_tie": tied,
        "examples": [f"{a} {p}: build {b}, lean {q}" for a, p, b, q in examples],
    }


def _startup(work: Path, base_env: dict, cli: list[str]) -> dict:
    """The empty start-up, the median of three runs (every figure beyond start-up subtracts it)."""
    empty_dir = work / "no-events"
    empty_dir.mkdir(exist_ok=True)
    # One empty event file: a location that never matched a file is an error (docs/operations.md).
    (empty_dir / "empty.ndjson").touch()
    shutil.rmtree(work / "dagster_home-startup", ignore_errors=True)
    (work / "dagster_home-startup").mkdir()
    env = dict(
        base_env,
        USAGE_BILLING_EVENTS=str(empty_dir) + "/*",
        USAGE_BILLING_DUCKDB=str(work / "startup.duckdb"),
        DAGSTER_HOME=str(work / "dagster_home-startup"),
    )
    _measure(cli, env)  # the first run also parses the project for this environment
    runs = []
    for _ in range(3):
        for stale in work.glob("startup.duckdb*"):
            stale.unlink()
        runs.append(_measure(cli, env))
    runs.sort(key=lambda m: m["wall_s"])
    return dict(runs[1], peak_rss_mb=max(m["peak_rss_mb"] for m in runs), runs=[m["wall_s"] for m in runs])


def _build(cli: list[str], env: dict) -> dict:
    started = time.time()
    measured = _measure(cli, env)
    measured["dbt"] = _dbt_run(started)
    return measured


def run_point(events: int, args: argparse.Namespace, work: Path, base_env: dict, cli: list[str]) -> dict:
    """One history size: generate (or reuse) its events, the yardsticks, then the builds in order."""
    from orchestration.generator import generate_events

    events_dir, catalog_dir = work / f"events-{events}", work / f"catalog-{events}"
    start = dt.date.fromisoformat(args.start)
    end = _month_add(start, args.months)
    point: dict = {"events": events, "steps": {}}
    if not (args.reuse_events and events_dir.is_dir() and any(events_dir.iterdir())):
        shutil.rmtree(events_dir, ignore_errors=True)
        t0 = time.monotonic()
        generate_events(
            events_dir,
            events=events,
            accounts=args.accounts,
            months=args.months,
            seed=1,
            start=args.start,
            fmt=args.format,
            files=args.files,
            catalog_dir=REPO_ROOT / "seeds",
            write_catalog=catalog_dir,
        )
        point["generate_s"] = time.monotonic() - t0
    history_files = sorted(f for f in events_dir.rglob("*") if f.is_file())
    _warm(events_dir)

    glob = str(events_dir) + "/**/*"
    warehouse, home = work / f"warehouse-{events}.duckdb", work / f"dagster_home-{events}"
    for stale in work.glob(f"warehouse-{events}.duckdb*"):
        stale.unlink()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    env = dict(
        base_env,
        USAGE_BILLING_EVENTS=glob,
        USAGE_BILLING_DUCKDB=str(warehouse),
        USAGE_BILLING_CATALOG=str(catalog_dir),
        DAGSTER_HOME=str(home),
    )
    steps = point["steps"]
    query_fmt = "parquet" if args.format == "parquet" else "ndjson"
    lean_out = work / f"lean-{events}.parquet"
    yardsticks = (
        () if args.no_yardsticks else ("lean",) if args.skip_yardsticks else ("floor", "hand", "lean")
    )
    for query in yardsticks:
        cmd = [sys.executable, "-m", "benchmarks.queries", query, "--events", glob, "--format", query_fmt]
        cmd += ["--catalog", str(catalog_dir)] + (["--out", str(lean_out)] if query == "lean" else [])
        steps[query] = _measure(cmd, env)
        steps[query]["query_s"] = json.loads(steps[query]["stdout"][-1])["seconds"]

    # The manifest depends on these paths: parse once for them first, as for the empty start-up.
    prepare = "from orchestration.cli import _prepare_dbt; _prepare_dbt()"
    subprocess.run([sys.executable, "-c", prepare], env=env, cwd=REPO_ROOT, check=False, capture_output=True)
    steps["full"] = _build(cli, env)
    if "lean" in yardsticks:
        point["totals"] = _compare_totals(warehouse, lean_out)
    if args.months >= 2 and not args.no_close:
        close = [sys.executable, "-m", "orchestration.cli", "close", "--period", f"{start:%Y-%m}", "--force"]
        steps["close"] = _build(close + ["--log-level", "WARNING"], env)
    steps["noop"] = _build(cli, env)

    from benchmarks.increment import write_increment

    hour_file = events_dir / "zz_increment_hour.ndjson"
    point["increment_counts"] = write_increment(
        history_files,
        hour_file,
        events=args.increment_events,
        history_start=start,
        history_end=end,
        seed=3,
    )
    added = [hour_file]
    os.sync()
    steps["increment"] = _build(cli, env)

    extra_dir = work / "extra"
    shutil.rmtree(extra_dir, ignore_errors=True)
    generate_events(
        extra_dir,
        events=max(events // 100, 1),
        accounts=args.accounts,
        months=args.months,
        seed=2,
        start=args.start,
        fmt=args.format,
        catalog_dir=REPO_ROOT / "seeds",
    )
    for i, f in enumerate(sorted(extra_dir.iterdir())):
        target = events_dir / f"zz_one_percent_{i}_{f.name}"
        f.rename(target)
        added.append(target)
    os.sync()
    steps["one_percent"] = _build(cli, env)
    for f in added:  # leave the events as generated, so --reuse-events compares like with like
        f.unlink()
    if not args.keep:
        for stale in work.glob(f"warehouse-{events}.duckdb*"):
            stale.unlink()
        if not args.reuse_events:
            shutil.rmtree(events_dir, ignore_errors=True)
    return point


def _header(args: argparse.Namespace, base_env: dict, sizes: list[int]) -> str:
    return (
        f"Benchmark {dt.date.today()}: {', '.join(f'{n:,}' for n in sizes)} {args.format} events of history, "
        f"{args.accounts} accounts, {args.months} months from {args.start}; realistic increment "
        f"{args.increment_events:,} events; {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        f"Python {platform.python_version()}, duckdb {version('duckdb')}, dbt-core {version('dbt-core')}, "
        f"dbt-duckdb {version('dbt-duckdb')}, dagster {version('dagster')}; DuckDB memory_limit "
        f"{args.memory_limit or base_env.get('USAGE_BILLING_DUCKDB_MEMORY_LIMIT', '4GB (default)')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, default=None, help="One history size (default 1,000,000)")
    size.add_argument("--history", default=None, help="Comma list of history sizes: the history curve")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--start", default="2026-01-01", help="First day of the history")
    parser.add_argument(
        "--files", type=int, default=None, help="Number of event files (default: generator's)"
    )
    parser.add_argument("--format", default="ndjson", choices=["ndjson", "ndjson.gz", "parquet"])
    parser.add_argument("--increment-events", type=int, default=20_000, help="Realistic increment's size")
    parser.add_argument(
        "--workdir", default=None, help="Where to put events and warehouse (default: a temp dir)"
    )
    parser.add_argument("--reuse-events", action="store_true", help="Keep events already in --workdir")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit for the build (e.g. 4GB)")
    parser.add_argument(
        "--skip-yardsticks", action="store_true", help="Run only the lean query, not the floor and hand query"
    )
    parser.add_argument(
        "--no-yardsticks",
        action="store_true",
        help="No yardstick query (the lean query needs ~0.4 GB per million events)",
    )
    parser.add_argument("--no-close", action="store_true", help="Do not close the first month")
    parser.add_argument("--plot", default=str(REPO_ROOT / "docs" / "img" / "scaling-history.png"))
    parser.add_argument("--keep", action="store_true", help="Keep the work directory")
    args = parser.parse_args(argv)
    sizes = (
        [int(n.replace("_", "")) for n in args.history.split(",")]
        if args.history
        else [args.events or 1_000_000]
    )

    from benchmarks import report

    work = Path(args.workdir or tempfile.mkdtemp(prefix="usage-billing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ, USAGE_BILLING_CATALOG=str(REPO_ROOT / "seeds"))
    if args.memory_limit:
        base_env["USAGE_BILLING_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    cli = [sys.executable, "-m", "orchestration.cli", "build", "--quiet", "--log-level", "WARNING"]

    startup = _startup(work, base_env, cli)
    points = []
    for events in sizes:
        print(f"history of {events:,} events ...", file=sys.stderr, flush=True)
        points.append(run_point(events, args, work, base_env, cli))

    lines = [_header(args, base_env, sizes), ""]
    lines.append(
        f"Empty start-up: {startup['wall_s']:.1f} s, the median of "
        + ", ".join(f"{w:.1f}" for w in startup["runs"])
        + " s; measured once: it does not depend on the history. The spread of those runs is the noise"
        " floor of every figure beyond start-up."
    )
    for p in points:
        if "generate_s" in p:
            lines.append(f"Generating {p['events']:,} events took {p['generate_s']:.1f} s.")
    if args.history:
        lines += ["", "## Summary", "", *report.summary_table(points, startup)]
        lines += ["", "## Targets (issue 18)", "", *report.targets(points, startup)]
    for p in points:
        lines += ["", *report.point_table(p, startup)]
    if args.history:
        plot = Path(args.plot)
        title = (
            f"usage_billing history curve, {dt.date.today()}: {args.format}, {args.accounts} accounts, "
            f"{args.months} months, +{args.increment_events:,}-event increment; {os.cpu_count()} cores"
        )
        lines += ["", report.plot(points, startup, plot, title)]
        out = REPO_ROOT / "benchmarks" / f"results-history-{args.format}.md"
    else:
        out = REPO_ROOT / "benchmarks" / f"results-{sizes[0]}-{args.format}.md"
    text = "\n".join(lines)
    print(text)
    out.write_text(text + "\n")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
