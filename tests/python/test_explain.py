"""`usage-billing explain`: for each kind of line, the printed computation and events reconcile with the
line, with figures worked out by hand on the readers' warehouse (conftest._reader_events)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import Warehouse

from orchestration.cli import main
from orchestration.readers.explain import (
    explain_line,
    explain_metadata,
    render_markdown,
    render_text,
    to_json,
)


def _line_id(
    wh: Warehouse,
    account: str,
    start: str,
    line_type: str,
    price: str | None = None,
    tier: int | None = None,
    plan: str | None = None,
) -> tuple[str, Decimal]:
    rows = wh.query(
        """select invoice_line_id, amount from marts.fct_invoice_lines
           where account_id = ? and period_start = cast(? as date) and line_type = ?
             and price_id is not distinct from ? and tier is not distinct from ?
             and (? is null or plan_id = ?)""",
        [account, start, line_type, price, tier, plan, plan],
    )
    assert len(rows) == 1, rows
    return rows[0]


# (account, period start, line type, price, tier, plan, hand-computed amount, numbers the steps must show)
CASES = [
    # Graduated: pro_tokens 12,000,000 tokens, tier 1 up to 10,000,000 free; tier 2: 2,000,000 × 0.0000015
    # = 3.00 + 5.00 flat = 8.00.
    (
        "acct_0001",
        "2026-01-01",
        "usage",
        "pro_tokens",
        2,
        None,
        "8.00",
        ["12,000,000", "2,000,000 units in this tier × $0.0000015 + $5.00 = 8"],
    ),
    # Per unit, final (January closed at 0.004, the catalog says 0.005 since): 250 × 0.004 = 1.00.
    (
        "acct_0001",
        "2026-01-01",
        "usage",
        "pro_ai_calls",
        None,
        None,
        "1.00",
        ["250 × $0.004 = 1", "catalog price now $0.005; billed at $0.004"],
    ),
    # Per unit, open: 250 calls in February × 0.005 = 1.25.
    ("acct_0001", "2026-02-01", "usage", "pro_ai_calls", None, None, "1.25", ["250 × $0.005 = 1.25"]),
    # Adjustment (P14): January's 250 calls priced again at 0.005 = 1.25 − billed 1.00 = +0.25, 0 more calls.
    (
        "acct_0001",
        "2026-02-01",
        "adjustment",
        "pro_ai_calls",
        None,
        None,
        "0.25",
        ["priced again now: 250 units, $1.25", "billed when it closed: 250 units, $1.00", "= $0.25"],
    ),
    # Volume: 12,000 calls fall in tier 3 (above 10,000): 12,000 × 0.03 + 25.00 = 385.00.
    (
        "acct_0006",
        "2026-01-01",
        "usage",
        "enterprise_calls",
        3,
        None,
        "385.00",
        ["P6 volume: all 12,000 × $0.03 + $25.00 = 385"],
    ),
    # Package: 250 searches in packages of 100 rounded up → 3 × 0.50 = 1.50.
    (
        "acct_0011",
        "2026-01-01",
        "usage",
        "starter_search",
        None,
        None,
        "1.50",
        ["250 / 100 → 3 package(s) × $0.50 = 1.5"],
    ),
    # Graduated with a hard limit: 2,100 calls, limit 2,000 → tier 2 = 2,000 − 1,000 = 1,000 × 0.01 = 10.00.
    (
        "acct_0011",
        "2026-01-01",
        "usage",
        "starter_calls",
        2,
        None,
        "10.00",
        ["2,000 billed, 100 not billed", "1,000 units in this tier × $0.01 = 10"],
    ),
    # Prorated base fee: pro from Feb 10 in a 28-day period: 49.00 × 19/28 = 33.25.
    (
        "acct_0003",
        "2026-02-01",
        "base_fee",
        None,
        None,
        "pro",
        "33.25",
        ["19 of 28 days", "$49.00 × 19/28 = 33.25"],
    ),
    # Cap: enterprise usage 15,000 × 0.03 + 25.00 = 475.00, cap 400.00 → −75.00.
    ("acct_0006", "2026-02-01", "cap", None, None, None, "-75.00", ["$475.00", "$400.00", "-$75.00"]),
    # Minimum: acct_0007 usage 1,000 × 0.05 = 50.00, minimum 200.00 → 150.00.
    ("acct_0007", "2026-02-05", "minimum", None, None, None, "150.00", ["$50.00", "$200.00", "$150.00"]),
    # Credit: acct_0001 February: tokens 1,000,000 × 0.0000015 + 5.00 = 6.50, ai 250 × 0.005 = 1.25 and the
    # +0.25 adjustment → 8.00 drawn from g_0004 (10.00) → −8.00, 2.00 left.
    ("acct_0001", "2026-02-01", "credit", None, None, None, "-8.00", ["$8.00 on this invoice", "left $2.00"]),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[2]}-{c[3] or c[5] or c[0]}" for c in CASES])
def test_explain_reconciles_each_line_type(readers_warehouse: Warehouse, case) -> None:
    account, start, line_type, price, tier, plan, expected, shown = case
    line_id, amount = _line_id(readers_warehouse, account, start, line_type, price, tier, plan)
    assert amount == Decimal(expected)
    ex = explain_line(readers_warehouse.db_path, line_id)
    assert ex.computed_amount == Decimal(expected)
    assert ex.checks and ex.reconciles, ex.checks
    text = render_text(ex)
    for fragment in shown:
        assert fragment in text, (fragment, text)
    assert "FAILED" not in text
    assert json.loads(to_json(ex))["amount"] == str(amount)
    assert "✅" in render_markdown(ex) and "❌" not in render_markdown(ex)


def test_explain_lists_events_with_file_and_line(readers_warehouse: Warehouse, capsys, monkeypatch) -> None:
    line_id, _ = _line_id(readers_warehouse, "acct_0001", "2026-02-01", "usage", "pro_ai_calls")
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(readers_warehouse.db_path))
    assert main(["explain", line_id, "--sample", "3"]) == 0
    out = capsys.readouterr().out
    # 250 billable /v1/ai/chat calls in February (the 20 status-500 calls are not behind the line).
    assert "250 event(s), 250 unit(s) in all" in out
    assert "first 3 of 250 by time:" in out
    # Line numbers are the events' physical lines in the file we wrote (1-based).
    source = readers_warehouse.events_dir / "readers.ndjson"
    line_of = {json.loads(text)["event_id"]: n for n, text in enumerate(source.read_text().splitlines(), 1)}
    # Call i is on day 1 + i % 25 at (i // 25):30, so Feb 1 holds ai-02-0, -25, -50 at 00:30, 01:30, 02:30.
    for event_id in ("ai-02-0", "ai-02-25", "ai-02-50"):
        assert f"{event_id}  " in out and f"readers.ndjson:{line_of[event_id]}" in out
    assert f"lines {line_of['ai-02-0']}–{line_of['ai-02-249']}" in out
    # The same report as Dagster metadata.
    metadata = explain_metadata(readers_warehouse.db_path, line_id)
    assert metadata["reconciles"].value is True
    assert "250 event(s), 250 unit(s) in all" in metadata["explanation"].value
    assert metadata["explanation_json"].value["events"]["count"] == 250


def test_explain_unknown_line_fails(readers_warehouse: Warehouse, monkeypatch, capsys) -> None:
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(readers_warehouse.db_path))
    assert main(["explain", "il_nope"]) == 1
    assert "no invoice line" in capsys.readouterr().err
