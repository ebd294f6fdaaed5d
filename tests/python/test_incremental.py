"""Many incremental builds equal one --full-refresh, row for row (docs/scaling.md, "What a run costs").

Through the Dagster asset, as users build: generated events arrive file by file over seven builds, with a
build that finds no new file, late events (some for a period closed in between, billed as adjustments),
exact re-sends, re-sends with an earlier timestamp that replace the kept copy on another day or in another
period, re-sends that move an event to another account, and an edit of the pricing catalog. Then the
same warehouse file, copied, is rebuilt with --full-refresh (the close ledger stays, as it always does):
every mart and every rollup must be the same rows (loaded_at and last_loaded_at, times of loading,
aside)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import SEEDS, Warehouse

from orchestration.warehouse.project import target_dir

# Every table a BI tool or finance reads, and the rollups kept from the dedupe's changes.
COMPARED = [
    "marts.fct_invoices",
    "marts.fct_invoice_lines",
    "marts.fct_account_period_usage",
    "marts.fct_daily_usage",
    "marts.fct_credit_balances",
    "marts.unbilled_usage",
    "marts.usage_alerts",
    "marts.events_quarantined",
    "marts.event_reconciliation",
    "marts.event_conflicts",
    "marts.event_files_rejected",
    "intermediate.int_usage_events_deduplicated",
    "intermediate.int_usage_daily",
    "intermediate.int_usage_prices_matched",
    "intermediate.int_usage_prices_accumulated",
]
# May be empty here: no file is rejected, and ~30 events an account-month reach no alert threshold.
MAY_BE_EMPTY = {"marts.event_files_rejected", "marts.usage_alerts"}
LOAD_TIMES = {"loaded_at", "last_loaded_at", "first_checked_at", "last_checked_at"}


def _lines(path: Path) -> list[dict]:
    events = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("timestamp"), str) and event.get("event_id"):
            events.append(event)
    return events


def _resends(originals: list[dict]) -> list[dict]:
    """Every 3rd: the same line again; every 3rd + 1: 20 days earlier with other units (replaces the kept
    copy, another day, often another period); every 3rd + 2: one second earlier on another account."""
    out = []
    for number, event in enumerate(originals):
        try:
            at = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        except ValueError:
            continue
        if number % 3 == 0:
            out.append(event)
        elif number % 3 == 1:
            earlier = (at - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append({**event, "timestamp": earlier, "units": 7})
        else:
            earlier = (at - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.append({**event, "timestamp": earlier, "account_id": "acct_0001"})
    return out


def _last_compiled(model: str) -> str:
    """The SQL dbt ran for `model` in the newest build (its run_results.json under target/)."""
    newest = max(target_dir().rglob("run_results.json"), key=lambda p: p.stat().st_mtime)
    for result in json.loads(newest.read_text())["results"]:
        if result["unique_id"] == f"model.usage_billing.{model}":
            return result.get("compiled_code") or ""
    return ""


def _differences(a: Path, b: Path, table: str) -> tuple[int, int, int]:
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        schema, name = table.split(".")
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'a' "
                "and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            if c not in LOAD_TIMES
        ]
        cols = ", ".join(columns)
        only_a = f"select {cols} from a.{table} except all select {cols} from b.{table}"
        only_b = f"select {cols} from b.{table} except all select {cols} from a.{table}"
        (rows,) = con.execute(f"select count(*) from a.{table}").fetchone()
        (x,) = con.execute(f"select count(*) from ({only_a})").fetchone()
        (y,) = con.execute(f"select count(*) from ({only_b})").fetchone()
        return rows, x, y
    finally:
        con.close()


def test_many_increments_equal_a_full_refresh(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.generator import generate_events

    source = warehouse.root / "generated"
    summary = generate_events(
        source,
        events=3000,
        accounts=30,
        months=3,
        seed=23,
        files=8,
        catalog_dir=SEEDS,
        resend_rate=0.04,
        conflict_rate=0.02,
        late_rate=0.05,
        malformed_rate=0.01,
    )
    files = [Path(f) for f in summary["files"]]
    originals = [e for f in files[:3] for e in _lines(f)][::15]
    batches: list[list[Path | str]] = [
        files[:3],
        files[3:4],
        [],
        files[4:6],
        ["resends"],
        files[6:7],
        files[7:],
    ]
    for number, batch in enumerate(batches):
        for item in batch:
            if item == "resends":
                warehouse.write_events("zz_resends.ndjson", _resends(originals))
            else:
                shutil.copy(item, warehouse.events_dir / Path(item).name)
        if number == 3:  # a price changes: the next build reloads the catalog and re-prices open invoices
            prices = warehouse.catalog_dir / "prices.csv"
            text = prices.read_text()
            assert ",0.002," in text
            prices.write_text(text.replace(",0.002,", ",0.003,", 1))
        warehouse.build()
        if number == 1:  # January closes; later files bring late January events (adjustments)
            warehouse.close("2026-01", force=True)
    # The last builds took the incremental path (the catalog had not changed since the edit).
    assert "removed_events" in _last_compiled("int_usage_daily")
    (superseded,) = warehouse.query("select count(*) from intermediate.int_usage_events_superseded")[0]
    assert superseded >= len(originals) // 2, "the re-sends replaced kept copies"
    (adjustments,) = warehouse.query(
        "select count(*) from marts.fct_invoice_lines where line_type = 'adjustment'"
    )[0]
    assert adjustments > 0, "late events for the closed January are billed as adjustments"

    refreshed = warehouse.root / "refreshed.duckdb"
    shutil.copy(warehouse.db_path, refreshed)
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(refreshed))
    warehouse.build(full_refresh=True)

    differences = {}
    for table in COMPARED:
        rows, only_incremental, only_full = _differences(warehouse.db_path, refreshed, table)
        assert rows > 0 or table in MAY_BE_EMPTY, f"{table} is empty: nothing was compared"
        if only_incremental or only_full:
            differences[table] = (only_incremental, only_full)
    assert not differences, (
        f"rows only in the incremental / only in the full-refresh warehouse: {differences}"
    )
