"""Period close (P13) and late events (P14), through the real close_job on a real DuckDB file: final lines
never change (new data, --full-refresh), and late usage is billed as adjustments, up and down."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conftest import Warehouse

LEDGER = "select * from ledger.final_invoice_lines order by invoice_line_id"
FINAL_LINES = (
    "select invoice_line_id, line_type, price_id, tier, quantity, amount, description "
    "from marts.fct_invoice_lines where is_final order by invoice_line_id"
)
ADJUSTMENTS = (
    "select account_id, period_start, adjusted_period_start, price_id, tier, quantity, amount, is_final "
    "from marts.fct_invoice_lines where line_type = 'adjustment' order by all"
)


def _event(event_id: str, account: str, timestamp: str, units: int) -> dict:
    return {"event_id": event_id, "account_id": account, "timestamp": timestamp, "units": units}


def test_grace_window_then_close_late_events_and_full_refresh(warehouse: Warehouse) -> None:
    warehouse.write_events(
        "events_1.ndjson",
        [
            # acct_0004 (eu_business, anchor 28): period 2026-01-28 – 2026-02-28, volume tiers
            # (≤ 100,000 at €0.0009; above at €0.0007 + €10.00 flat): 100,000 calls = €90.00.
            _event("e4-a", "acct_0004", "2026-02-01T10:00:00Z", 50_000),
            _event("e4-b", "acct_0004", "2026-02-01T11:00:00Z", 50_000),
            # acct_0002 (payg, anchor 15): period 2026-01-15 – 2026-02-15, 50,000 free then $0.001:
            # 60,000 calls = tier 2 10,000 × 0.001 = $10.00.
            _event("e2-a", "acct_0002", "2026-01-20T10:00:00Z", 60_000),
            # Next periods exist (as_of = the latest event, 2026-03-05).
            _event("e4-next", "acct_0004", "2026-03-05T00:00:00Z", 1),
            _event("e2-next", "acct_0002", "2026-02-20T00:00:00Z", 1),
        ],
    )
    warehouse.build()

    # P13 grace window (3 days): acct_0002's January period ends Feb 15 (closable from Feb 18), acct_0004's
    # ends Feb 28 (closable from Mar 3); acct_0010's (anchor 20) ends Feb 20 (from Feb 23).
    def status() -> dict:
        return {
            (a, p): (st, t)
            for a, p, st, t in warehouse.query(
                "select account_id, period_start, status, total from marts.fct_invoices "
                "where account_id in ('acct_0002', 'acct_0004')"
            )
        }

    meta = warehouse.close("2026-01", now="2026-02-20T00:00:00")
    assert (
        "close: skipped acct_0004 2026-01-28" in meta["log"] and "close: acct_0002 2026-01-15" in meta["log"]
    )
    assert status()[("acct_0002", date(2026, 1, 15))][0] == "final"
    assert status()[("acct_0004", date(2026, 1, 28))][0] == "open"
    meta = warehouse.close("2026-01", now="2026-03-03T00:00:00")
    assert meta["invoices_in_grace_window"] == 0
    assert status() == {
        ("acct_0002", date(2026, 1, 15)): ("final", Decimal("10.00")),
        ("acct_0002", date(2026, 2, 15)): ("open", Decimal("0.00")),
        ("acct_0004", date(2025, 12, 28)): (
            "open",
            Decimal("86.23"),
        ),  # 99.00 × 27/31 days (plan from Jan 1) = 86.2258… → 86.23
        ("acct_0004", date(2026, 1, 28)): ("final", Decimal("189.00")),  # base fee 99.00 + usage 90.00
        ("acct_0004", date(2026, 2, 28)): ("open", Decimal("99.00")),
    }
    ledger_before = warehouse.query(LEDGER)
    final_before = warehouse.query(FINAL_LINES)
    assert len(ledger_before) == len(final_before) > 0
    assert warehouse.query(ADJUSTMENTS) == []

    # Late events for the closed periods.
    warehouse.write_events(
        "events_2_late.ndjson",
        [
            # acct_0004: 100,001 calls fall in tier 2: 100,001 × 0.0007 + 10.00 = 80.0007 → €80.00, so the
            # corrected period is €10.00 cheaper: tier 1 −100,000 calls −€90.00, tier 2 +100,001 calls +€80.00.
            _event("e4-late", "acct_0004", "2026-02-02T09:00:00Z", 1),
            # acct_0002: 61,000 calls → tier 2 11,000 × 0.001 = $11.00: +1,000 calls, +$1.00.
            _event("e2-late", "acct_0002", "2026-01-21T09:00:00Z", 1_000),
        ],
    )
    warehouse.build()
    assert warehouse.query(LEDGER) == ledger_before
    assert warehouse.query(FINAL_LINES) == final_before
    d = date
    expected_adjustments = [
        ("acct_0002", d(2026, 2, 15), d(2026, 1, 15), "payg_calls", 2, Decimal(1000), Decimal("1.00"), False),
        (
            "acct_0004",
            d(2026, 2, 28),
            d(2026, 1, 28),
            "eu_calls",
            1,
            Decimal(-100000),
            Decimal("-90.00"),
            False,
        ),
        (
            "acct_0004",
            d(2026, 2, 28),
            d(2026, 1, 28),
            "eu_calls",
            2,
            Decimal(100001),
            Decimal("80.00"),
            False,
        ),
    ]
    assert warehouse.query(ADJUSTMENTS) == expected_adjustments
    # The next invoices carry them: acct_0002 0.00 + 1.00; acct_0004 99.00 − 90.00 + 80.00 = 89.00.
    assert status()[("acct_0002", date(2026, 2, 15))] == ("open", Decimal("1.00"))
    assert status()[("acct_0004", date(2026, 2, 28))] == ("open", Decimal("89.00"))
    (description,) = warehouse.query(
        "select description from marts.fct_invoice_lines where line_type = 'adjustment' and tier = 1"
    )[0]
    assert "2026-01-28" in description and "-€90.00" in description

    # A full refresh rebuilds every model from the raw files, and changes no final line.
    warehouse.build(full_refresh=True)
    assert warehouse.query(LEDGER) == ledger_before
    assert warehouse.query(FINAL_LINES) == final_before
    assert warehouse.query(ADJUSTMENTS) == expected_adjustments

    # Closing February freezes the adjustments (close_job rebuilds the marts); they are not billed again.
    warehouse.close("2026-02", force=True)
    assert warehouse.query(ADJUSTMENTS) == [row[:-1] + (True,) for row in expected_adjustments]
    # Closing again changes nothing (append-only, each invoice once).
    ledger_after = warehouse.query(LEDGER)
    meta = warehouse.close("2026-02", force=True)
    assert meta["invoices_closed"] == 0
    assert warehouse.query(LEDGER) == ledger_after
