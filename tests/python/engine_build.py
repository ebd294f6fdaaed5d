"""Build the project's seeds and models on one engine; on Spark, dump the marts the engines must agree on.

Run in its own process by test_spark_parity.py: ``python tests/python/engine_build.py OUT.json``, with the
target chosen by USAGE_BILLING_TARGET. dbt runs in process (dbtRunner), so on Spark the marts are read
back through the same Spark session that dbt-spark (session mode) started: one start-up per build."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Marts compared between engines (CONTRACT.md names); every column except the load time.
MARTS = [
    "fct_invoices",
    "fct_invoice_lines",
    "events_quarantined",
    "event_reconciliation",
    "event_conflicts",
    "unbilled_usage",
    "fct_credit_balances",
    "fct_account_period_usage",
    "account_entitlements",
    "account_entitlement_limits",
    "accounts_receivable",
]
SKIPPED_COLUMNS = {"loaded_at"}


def plain(value: object) -> object:
    """A JSON value that compares exactly: decimals as normalised text (1.50 == 1.5), times as ISO text,
    event file paths as their names (each engine reads its own copy of the files)."""
    if isinstance(value, str) and value.startswith("/") and "/events_" in value:
        return Path(value).name
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _rows_duckdb(table: str, db_path: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    con = duckdb.connect(db_path, read_only=True)
    try:
        cursor = con.execute(f"select * from marts.{table}")
        return [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        con.close()


def _rows_spark(table: str) -> tuple[list[str], list[tuple]]:
    from pyspark.sql import SparkSession

    frame = SparkSession.builder.getOrCreate().table(f"marts.{table}")
    return frame.columns, [tuple(row) for row in frame.collect()]


def main(out: Path) -> int:
    """Build as the environment says; with USAGE_BILLING_BUILD_BATCHES (a JSON list of lists of event files),
    copy each batch into USAGE_BILLING_EVENTS_DIR and build after each one, the first build in full and the
    later ones incrementally (var catalog_changed false, seeds not reloaded); then, on Spark, dump the marts
    to OUT and build again with --full-refresh from a fresh copy of the catalog (USAGE_BILLING_CATALOG_SOURCE)
    and dump that to OUT with the suffix .full.json."""
    import shutil

    from dbt.cli.main import dbtRunner

    target = os.environ.get("USAGE_BILLING_TARGET", "duckdb")
    work = out.parent / f"dbt_{target}"
    base = ["build", "--profiles-dir", str(REPO_ROOT), "--project-dir", str(REPO_ROOT)]
    base += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    # Models and seeds only: the data tests run in the DuckDB build of scripts/test.sh.
    base += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    runner = dbtRunner()

    def build(*extra: str, incremental: bool = False) -> bool:
        # The catalog is the test's own per-target copy (see test_spark_parity._start_build).
        variables = {"catalog_is_a_scratch_copy": True, "catalog_changed": not incremental}
        args = [*base, *extra, "--vars", json.dumps(variables)]
        if incremental:  # the catalog did not change: its seeds stay as loaded
            args += ["--exclude-resource-type", "seed"]
        result = runner.invoke(args)
        if not result.success:
            print(f"dbt build on {target} failed: {result.exception or ''}", file=sys.stderr)
        return result.success

    batches = json.loads(os.environ.get("USAGE_BILLING_BUILD_BATCHES", "null")) or [[]]
    events_dir = Path(os.environ.get("USAGE_BILLING_EVENTS_DIR", out.parent))
    for number, batch in enumerate(batches):
        for name in batch:
            shutil.copy(name, events_dir / Path(name).name)
        if not build(incremental=number > 0):
            return 1
    if target == "spark":
        out.write_text(json.dumps(dump_marts(_rows_spark)))
        if len(batches) > 1:
            catalog = Path(os.environ["USAGE_BILLING_CATALOG"])
            shutil.rmtree(catalog)
            shutil.copytree(os.environ["USAGE_BILLING_CATALOG_SOURCE"], catalog)
            if not build("--full-refresh"):
                return 1
            out.with_suffix(".full.json").write_text(json.dumps(dump_marts(_rows_spark)))
    # DuckDB: dbt-duckdb keeps its connection open in this process; the caller reads the file afterwards.
    return 0


def dump_marts(read) -> dict:
    """{mart: {"columns": [...], "rows": [[...], ...]}} for MARTS, read with read(table)."""
    dump = {}
    for table in MARTS:
        columns, rows = read(table)
        keep = [i for i, c in enumerate(columns) if c not in SKIPPED_COLUMNS]
        dump[table] = {
            "columns": [columns[i] for i in keep],
            "rows": [[plain(row[i]) for i in keep] for row in rows],
        }
    return dump


def dump_duckdb(db_path: str) -> dict:
    """The marts of a DuckDB file (after the build process has ended)."""
    return dump_marts(lambda table: _rows_duckdb(table, db_path))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
