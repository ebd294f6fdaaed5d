"""The monthly schedule's job end to end: close (P13), rebuild the marts, push to the local Stripe-API server,
read back. Twice: the second run closes and creates nothing."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from conftest import Warehouse
from stripe_fixtures import TEST_KEY, LocalStripe

from orchestration.readers.export import INVOICE_COLUMNS, LINE_COLUMNS

USAGE_BILLING = str(Path(sys.executable).parent / "usage-billing")


def _run(today: date) -> dg.ExecuteInProcessResult:
    import importlib

    import orchestration.code_location.definitions
    from orchestration.code_location.schedules import (
        close_and_push_run_config,
        close_and_push_tags,
        monthly_close_and_push,
    )

    # The Stripe resource reads STRIPE_API_KEY / STRIPE_API_BASE when the code location loads (as
    # `dagster dev` or the daemon would, with the variables set): load it again now that they are.
    defs = importlib.reload(orchestration.code_location.definitions).defs

    # The schedule's own run request for that day.
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(today.year, today.month, today.day, 6)
    )
    request = monthly_close_and_push(context)
    assert request.run_config == close_and_push_run_config()
    # One run over the partition range of the two previous months.
    assert request.tags == close_and_push_tags(today)
    return defs.resolve_job_def("close_and_push_job").execute_in_process(
        run_config=request.run_config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=True,
        tags=request.tags,
    )


def test_schedule_closes_then_pushes_exactly_once(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.write_events(
        "events.ndjson",
        [
            # acct_0002 (payg, anchor 15): Jan 15 – Feb 15, 60,000 calls: 10,000 × $0.001 = $10.00.
            {"event_id": "a", "account_id": "acct_0002", "timestamp": "2026-01-20T10:00:00Z", "units": 60000},
            # acct_0005 (jp_starter, anchor 10, from Jan 10): Jan 10 – Feb 10, ¥1,000 + 7 × ¥0.15 = ¥1,001.05 → ¥1,001.
            {"event_id": "b", "account_id": "acct_0005", "timestamp": "2026-01-11T10:00:00Z", "units": 7},
            {"event_id": "c", "account_id": "acct_0002", "timestamp": "2026-02-20T10:00:00Z", "units": 1},
        ],
    )
    warehouse.build()
    # Review before close: acct_0002 goes from $10.00 (Jan 15) to $0.00 (Feb 15), -100 %: the check warns.
    # acct_0005 goes from ¥1,001 to ¥1,000 (Feb: no usage, base fee only), -0.1 %: not flagged.
    from orchestration.code_location.checks import invoice_total_change

    change = invoice_total_change()
    assert not change.passed and change.severity == dg.AssetCheckSeverity.WARN
    moved = change.metadata["moved"].value
    assert "| acct_0002 | 2026-02-15 | 10.0000 → 0.0000 USD | -100.0 % |" in moved
    assert "acct_0005" not in moved
    server = LocalStripe(tmp_path / "stripe.log")
    try:
        monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", server.url)
        # On 2026-03-04 the schedule closes and pushes the periods that started in January and February.
        result = _run(date(2026, 3, 4))
        assert result.success
        rows = warehouse.query(
            "select account_id, period_start, warehouse_total, stripe_total, status from marts.stripe_reconciliation "
            "where account_id in ('acct_0002', 'acct_0005') order by 1, 2"
        )
        assert rows == [
            ("acct_0002", date(2026, 1, 15), Decimal("10.00"), Decimal("10.00"), "match"),
            ("acct_0002", date(2026, 2, 15), Decimal("0.00"), None, "skipped"),  # zero total
            ("acct_0005", date(2026, 1, 10), Decimal("1001"), Decimal("1001"), "match"),
            ("acct_0005", date(2026, 2, 10), Decimal("1000"), Decimal("1000"), "match"),
        ]
        assert {s for (*_, s) in warehouse.query("select status from marts.stripe_reconciliation")} <= {
            "match",
            "skipped",
        }
        client = server.client()
        items = len(list(client.invoice_items.list({"limit": 100}).auto_paging_iter()))
        invoices = len(list(client.invoices.list({"limit": 100}).auto_paging_iter()))
        assert items > 0 and invoices > 0

        # The same run exported both months for finance (CSV, the default).
        exports = tmp_path / "exports"
        january = exports / "2026-01" / "csv"
        check_export(warehouse, january, "2026-01")
        assert (exports / "2026-02" / "csv" / "control.json").exists()
        with (january / "invoices.csv").open() as f:
            rows = {r["account_id"]: r for r in csv.DictReader(f)}
        # Hand-computed above: $10.00 and ¥1,001 (JPY has no minor units).
        assert (rows["acct_0002"]["total"], rows["acct_0002"]["currency"]) == ("10.00", "usd")
        assert (rows["acct_0005"]["total"], rows["acct_0005"]["currency"]) == ("1001", "jpy")
        exported = {p.name: p.read_bytes() for p in january.iterdir()}

        # The same run again: nothing new is closed, nothing new is created in Stripe, and the re-export of
        # the closed months is byte-identical.
        ledger = warehouse.query("select * from ledger.final_invoice_lines order by invoice_line_id")
        assert _run(date(2026, 3, 4)).success
        assert {p.name: p.read_bytes() for p in january.iterdir()} == exported
        assert warehouse.query("select * from ledger.final_invoice_lines order by invoice_line_id") == ledger
        assert len(list(client.invoice_items.list({"limit": 100}).auto_paging_iter())) == items
        assert len(list(client.invoices.list({"limit": 100}).auto_paging_iter())) == invoices
    finally:
        server.stop()

    # The command line, Parquet, into another folder: twice, byte-identical; Parquet keeps exact decimals.
    out = tmp_path / "finance"
    for attempt in range(2):
        run = subprocess.run(
            [USAGE_BILLING, "export", "--period", "2026-01", "--format", "parquet", "--out", str(out)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert (
            "Finance export 2026-01 (parquet)" in run.stdout
            and "every invoice of 2026-01 is closed" in run.stdout
        )
        files = {p.name: p.read_bytes() for p in (out / "2026-01" / "parquet").iterdir()}
        if attempt == 0:
            first = files
    assert files == first and set(files) == {"invoices.parquet", "invoice_lines.parquet", "control.json"}
    check_export(warehouse, out / "2026-01" / "parquet", "2026-01")
    table = pq.read_table(out / "2026-01" / "parquet" / "invoices.parquet")
    assert table.column_names == [name for name, _ in INVOICE_COLUMNS]
    totals = dict(zip(table.column("account_id").to_pylist(), table.column("total").to_pylist(), strict=True))
    assert totals["acct_0002"] == Decimal("10.0000") and totals["acct_0005"] == Decimal("1001.0000")

    # A month with nothing closed is not exported: it says so and exits 1.
    run = subprocess.run(
        [USAGE_BILLING, "export", "--period", "2026-03", "--out", str(out)], capture_output=True, text=True
    )
    assert run.returncode == 1 and "no closed invoice starts in 2026-03" in run.stderr
    assert not (out / "2026-03" / "csv" / "invoices.csv").exists()


def check_export(warehouse: Warehouse, folder: Path, period: str) -> None:
    """The export's files against the close ledger and its own control file."""
    control = json.loads((folder / "control.json").read_text())
    fmt = control["format"]
    assert control["period"] == period and control["open_invoices_not_exported"] == 0
    month = f"strftime(period_start, '%Y-%m') = '{period}'"
    invoices = warehouse.query(f"select count(*) from ledger.final_invoices where {month}")[0][0]
    lines = warehouse.query(f"select count(*) from ledger.final_invoice_lines where {month}")[0][0]
    assert invoices > 0
    assert control["files"][f"invoices.{fmt}"]["rows"] == invoices
    assert control["files"][f"invoice_lines.{fmt}"]["rows"] == lines
    assert control["files"][f"invoices.{fmt}"]["columns"] == [name for name, _ in INVOICE_COLUMNS]
    assert control["files"][f"invoice_lines.{fmt}"]["columns"] == [name for name, _ in LINE_COLUMNS]
    for name in (f"invoices.{fmt}", f"invoice_lines.{fmt}"):
        data = (folder / name).read_bytes()
        assert control["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert control["files"][name]["bytes"] == len(data)
    minor = dict(warehouse.query("select currency, minor_units from catalog.currencies"))
    expected = {}
    for currency, count, total in warehouse.query(
        f"select currency, count(*), sum(total) from ledger.final_invoices where {month} group by 1"
    ):
        (line_sum,) = warehouse.query(
            f"select sum(amount) from ledger.final_invoice_lines where {month} and currency = ?", [currency]
        )[0]
        assert line_sum == total  # lines sum to the invoice totals
        expected[currency] = (count, str(total.quantize(Decimal(1).scaleb(-minor[currency]))))
    assert {c: (t["invoices"], t["total"]) for c, t in control["totals_per_currency"].items()} == expected
    if fmt == "csv":
        with (folder / "invoices.csv").open() as f:
            header = next(csv.reader(f))
        assert header == [name for name, _ in INVOICE_COLUMNS]
