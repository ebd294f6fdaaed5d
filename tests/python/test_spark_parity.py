"""The same dbt models on Apache Spark (dbt-spark session mode, pyspark) and on DuckDB, over the same
generated events (NDJSON with malformed and blank lines, re-sends, conflicts, aliases and unknown accounts,
plus a Parquet file, and re-sends that replace kept copies) and the same generated catalog: every invoice,
invoice line, quarantined line, reconciliation row, conflict, unbilled row, credit balance and usage row
must be equal, amounts to the last digit. Each engine builds in its own process
(tests/python/engine_build.py): DuckDB once over every file; Spark in three batches (its incremental
path), then once more with --full-refresh, which must give the same marts."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SEEDS
from engine_build import MARTS

BUILD = Path(__file__).with_name("engine_build.py")


def _require_spark() -> None:
    """The spark extra and a JRE are part of the project's setup (scripts/bootstrap.sh): never skip."""
    missing = [m for m in ("pyspark", "dbt.adapters.spark") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run scripts/bootstrap.sh (pip install -e '.[spark]')"
        )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("no Java runtime for Spark: run scripts/os_packages.sh (OpenJDK 17)")


def _generate(events_dir: Path, catalog_dir: Path) -> None:
    from orchestration.generator import generate_events

    common = {"months": 2, "seed": 11, "start": "2026-01-01"}
    generate_events(
        events_dir / "ndjson",
        events=2500,
        accounts=25,
        fmt="ndjson",
        catalog_dir=SEEDS,
        write_catalog=catalog_dir,
        resend_rate=0.03,
        conflict_rate=0.02,
        malformed_rate=0.03,
        alias_rate=0.1,
        unknown_account_rate=0.02,
        blank_line_rate=0.01,
        **common,
    )
    # Parquet rows from the same accounts (ids differ by seed), read through the same validation path.
    generate_events(
        events_dir / "parquet",
        events=400,
        accounts=25,
        fmt="parquet",
        files=1,
        catalog_dir=catalog_dir,
        resend_rate=0.02,
        conflict_rate=0.02,
        **{**common, "seed": 12},
    )


def _replacing_resends(events_dir: Path, out: Path) -> None:
    """Copies of kept events, sent again with an earlier timestamp (E2: the copy replaces the kept one, on
    another day or period) or an earlier timestamp and another account (a conflict that moves the usage),
    written to a file of its own, loaded last."""
    originals = []
    for path in sorted(events_dir.glob("ndjson/*.ndjson")):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("timestamp"), str) and event.get("event_id"):
                originals.append(event)
    with out.open("w") as f:
        for number, event in enumerate(originals[:: max(len(originals) // 60, 1)]):
            try:
                at = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            except ValueError:
                continue
            moved = {**event, "timestamp": (at - dt.timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if number % 3 == 0:
                moved["account_id"] = "acct_0001"
            f.write(json.dumps(moved) + "\n")


def _start_build(target: str, root: Path, env: dict[str, str]) -> subprocess.Popen:
    # Each build reads its own copy of the catalog: dbt writes a seed's run SQL to the seed's own path when
    # the seed folder is absolute, so the first build leaves the files unreadable for the next one.
    catalog = root / f"catalog_{target}"
    shutil.copytree(root / "catalog", catalog)
    events = root / f"events_{target}"
    events.mkdir()
    files = sorted(str(p) for p in (root / "events").rglob("*") if p.is_file())
    resends = root / "resends" / "zz_resends.ndjson"
    half = len(files) // 2
    batches = [files + [str(resends)]] if target == "duckdb" else [files[:half], files[half:], [str(resends)]]
    log = (root / f"{target}.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(BUILD), str(root / f"{target}.json")],
        cwd=REPO_ROOT,
        env={
            **env,
            "USAGE_BILLING_TARGET": target,
            "USAGE_BILLING_CATALOG": str(catalog),
            "USAGE_BILLING_CATALOG_SOURCE": str(root / "catalog"),
            "USAGE_BILLING_EVENTS": f"{events}/**/*",
            "USAGE_BILLING_EVENTS_DIR": str(events),
            "USAGE_BILLING_BUILD_BATCHES": json.dumps(batches),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish_build(target: str, root: Path, proc: subprocess.Popen, env: dict[str, str]) -> dict:
    try:
        code = proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"dbt build on {target} did not finish in 15 minutes")
    if code != 0:
        pytest.fail(f"dbt build on {target} failed:\n{(root / f'{target}.log').read_text()[-8000:]}")
    if target == "duckdb":
        from engine_build import dump_duckdb

        return dump_duckdb(env["USAGE_BILLING_DUCKDB"])
    return {
        "incremental": json.loads((root / f"{target}.json").read_text()),
        "full_refresh": json.loads((root / f"{target}.full.json").read_text()),
    }


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    _require_spark()
    root = tmp_path_factory.mktemp("spark_parity")
    events_dir = root / "events"
    catalog_dir = root / "catalog"
    shutil.copytree(SEEDS, catalog_dir)
    _generate(events_dir, catalog_dir)
    (root / "resends").mkdir()
    _replacing_resends(events_dir, root / "resends" / "zz_resends.ndjson")
    env = {
        **os.environ,
        "TZ": "UTC",
        "USAGE_BILLING_DUCKDB": str(root / "warehouse.duckdb"),
        "USAGE_BILLING_SPARK_DIR": str(root / "spark"),
    }
    # Spark first (its start-up is the long pole), DuckDB alongside it.
    procs = {target: _start_build(target, root, env) for target in ("spark", "duckdb")}
    try:
        duckdb_marts = _finish_build("duckdb", root, procs["duckdb"], env)
        spark = _finish_build("spark", root, procs["spark"], env)
        return {
            "duckdb": duckdb_marts,
            "spark": spark["incremental"],
            "spark_full_refresh": spark["full_refresh"],
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _value(v: object) -> object:
    """Numbers compare as exact decimals (Spark and DuckDB may differ in a column's scale, never in value)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float | str):
        try:
            return Decimal(str(v)) if not isinstance(v, str) or v[:1].isdigit() or v[:1] == "-" else v
        except InvalidOperation:
            return v
    return v


def _rows(dump: dict, table: str, columns: list[str]) -> Counter:
    index = [dump[table]["columns"].index(c) for c in columns]
    return Counter(tuple(_value(row[i]) for i in index) for row in dump[table]["rows"])


@pytest.mark.parametrize("table", MARTS)
def test_spark_equals_duckdb(builds: dict[str, dict], table: str) -> None:
    duck, spark = builds["duckdb"][table], builds["spark"][table]
    assert spark["columns"] == duck["columns"], f"{table}: columns differ"
    want = _rows(builds["duckdb"], table, duck["columns"])
    got = _rows(builds["spark"], table, duck["columns"])
    if got != want:
        missing = list((want - got).elements())[:5]
        extra = list((got - want).elements())[:5]
        pytest.fail(
            f"{table}: {sum((want - got).values())} DuckDB row(s) not on Spark, {sum((got - want).values())} "
            f"Spark row(s) not on DuckDB\n  columns {duck['columns']}\n"
            + "".join(f"  DuckDB only {r}\n" for r in missing)
            + "".join(f"  Spark only  {r}\n" for r in extra)
        )


@pytest.mark.parametrize("table", MARTS)
def test_spark_incremental_equals_full_refresh(builds: dict[str, dict], table: str) -> None:
    """Spark's incremental path (three batches, the last re-sending kept events with earlier timestamps)
    gives the marts a --full-refresh of the same files gives."""
    columns = builds["spark"][table]["columns"]
    got = _rows(builds["spark"], table, columns)
    want = _rows(builds["spark_full_refresh"], table, columns)
    assert got == want, (
        f"{table}: incremental-only rows {list((got - want).elements())[:5]}, "
        f"full-refresh-only rows {list((want - got).elements())[:5]}"
    )


def test_the_data_exercises_what_is_compared(builds: dict[str, dict]) -> None:
    """A parity test over empty or trivial marts would prove nothing."""
    duck = builds["duckdb"]

    def column(table: str, name: str) -> list:
        i = duck[table]["columns"].index(name)
        return [row[i] for row in duck[table]["rows"]]

    assert len(duck["fct_invoices"]["rows"]) >= 20
    line_types = set(column("fct_invoice_lines", "line_type"))
    assert {"base_fee", "usage", "credit"} <= line_types, line_types
    assert any(Decimal(a) != Decimal(a).quantize(Decimal(1)) for a in column("fct_invoice_lines", "amount"))
    reasons = set(column("events_quarantined", "reason"))
    assert len(reasons) >= 8, reasons
    files = column("event_reconciliation", "source_file")
    assert any(f.endswith(".parquet") for f in files) and any(f.endswith(".ndjson") for f in files), files
    assert sum(int(v) for v in column("event_reconciliation", "rows_duplicate")) > 0
    assert sum(int(v) for v in column("event_reconciliation", "rows_conflict")) > 0
    assert len(duck["unbilled_usage"]["rows"]) > 0
