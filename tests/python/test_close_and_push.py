"""The monthly schedule's job end to end: close (P13), rebuild the marts, push to the local Stripe-API server,
read back. Twice: the second run closes and creates nothing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from conftest import Warehouse
from stripe_fixtures import TEST_KEY, LocalStripe


def _run(today: date) -> dg.ExecuteInProcessResult:
    import importlib

    import orchestration.definitions
    from orchestration.schedules import close_and_push_run_config, close_and_push_tags, monthly_close_and_push

    # The Stripe resource reads STRIPE_API_KEY / STRIPE_API_BASE when the code location loads (as
    # `dagster dev` or the daemon would, with the variables set): load it again now that they are.
    defs = importlib.reload(orchestration.definitions).defs

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

        # The same run again: nothing new is closed, nothing new is created in Stripe.
        ledger = warehouse.query("select * from ledger.final_invoice_lines order by invoice_line_id")
        assert _run(date(2026, 3, 4)).success
        assert warehouse.query("select * from ledger.final_invoice_lines order by invoice_line_id") == ledger
        assert len(list(client.invoice_items.list({"limit": 100}).auto_paging_iter())) == items
        assert len(list(client.invoices.list({"limit": 100}).auto_paging_iter())) == invoices
    finally:
        server.stop()
