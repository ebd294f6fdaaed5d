"""marts.usage_alerts on hand-made traffic against the sample catalog: when 50, 80 and 100 % of an
included allowance, a hard limit and a spend cap were crossed, and the units past a hard limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from conftest import Warehouse

START = datetime(2026, 1, 10, 0, 0, 0)


def _calls(account: str, n: int, start: datetime, step: timedelta, prefix: str) -> list[dict]:
    return [
        {
            "event_id": f"{prefix}-{i}",
            "account_id": account,
            "timestamp": (start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endpoint": "/v1/users",
        }
        for i in range(n)
    ]


def test_alert_thresholds_and_crossing_times(warehouse: Warehouse) -> None:
    minute = timedelta(minutes=1)
    # acct_0009, plan free: free_calls tier 1 = 1,000 calls included. One call a minute from Jan 10 00:00:
    # call k (1-based) is at minute k-1, so 50 % (500) is crossed at 08:19, 80 % (800) at 13:19,
    # 100 % (1,000) at 16:39.
    free = _calls("acct_0009", 1200, START, minute, "free")
    # acct_0011, plan starter: starter_calls has 1,000 calls included (tier 1) and hard_limit 2,000.
    # 2,100 calls, one a second from Jan 10 00:00: allowance 50/80/100 % at calls 500/800/1,000 (00:08:19,
    # 00:13:19, 00:16:39); hard limit 50/80/100 % at calls 1,000/1,600/2,000 (00:16:39, 00:26:39, 00:33:19);
    # 100 excess calls are not billed.
    starter = _calls("acct_0011", 2100, START, timedelta(seconds=1), "starter")
    # acct_0006, plan enterprise: volume tiers 0.05 up to 2,000, 0.04 up to 10,000; spend cap 400.00.
    # Jan 10: 5,000 calls → 5,000 × 0.04 = 200.00 (50 %); Jan 11: +3,000 → 8,000 × 0.04 = 320.00 (80 %);
    # Jan 12: +2,000 → 10,000 × 0.04 = 400.00 (100 %, not over: no cap line). Spend is known per day, so each
    # threshold is dated 00:00 the next day: Jan 11, Jan 12, Jan 13.
    day = timedelta(days=1)
    enterprise = (
        _calls("acct_0006", 5000, START, timedelta(seconds=10), "ent-a")
        + _calls("acct_0006", 3000, START + day, timedelta(seconds=10), "ent-b")
        + _calls("acct_0006", 2000, START + 2 * day, timedelta(seconds=10), "ent-c")
    )
    warehouse.write_events("alerts.ndjson", free + starter + enterprise)
    warehouse.build()

    rows = warehouse.query(
        "select account_id, alert_type, threshold_pct, price_id, limit_value, crossed_at, excess_quantity "
        "from marts.usage_alerts where period_start = date '2026-01-01' order by all"
    )
    got = {(a, t, p, pid): (lim, at, ex) for a, t, p, pid, lim, at, ex in rows}
    d = datetime
    expected = {
        ("acct_0009", "included_allowance", 50, "free_calls"): (Decimal(1000), d(2026, 1, 10, 8, 19), None),
        ("acct_0009", "included_allowance", 80, "free_calls"): (Decimal(1000), d(2026, 1, 10, 13, 19), None),
        ("acct_0009", "included_allowance", 100, "free_calls"): (
            Decimal(1000),
            d(2026, 1, 10, 16, 39),
            Decimal(0),
        ),
        ("acct_0011", "included_allowance", 50, "starter_calls"): (
            Decimal(1000),
            d(2026, 1, 10, 0, 8, 19),
            None,
        ),
        ("acct_0011", "included_allowance", 80, "starter_calls"): (
            Decimal(1000),
            d(2026, 1, 10, 0, 13, 19),
            None,
        ),
        ("acct_0011", "included_allowance", 100, "starter_calls"): (
            Decimal(1000),
            d(2026, 1, 10, 0, 16, 39),
            Decimal(100),
        ),
        ("acct_0011", "hard_limit", 50, "starter_calls"): (Decimal(2000), d(2026, 1, 10, 0, 16, 39), None),
        ("acct_0011", "hard_limit", 80, "starter_calls"): (Decimal(2000), d(2026, 1, 10, 0, 26, 39), None),
        ("acct_0011", "hard_limit", 100, "starter_calls"): (
            Decimal(2000),
            d(2026, 1, 10, 0, 33, 19),
            Decimal(100),
        ),
        ("acct_0006", "spend_cap", 50, None): (Decimal(400), d(2026, 1, 11), None),
        ("acct_0006", "spend_cap", 80, None): (Decimal(400), d(2026, 1, 12), None),
        ("acct_0006", "spend_cap", 100, None): (Decimal(400), d(2026, 1, 13), None),
    }
    assert got == expected

    # P8: the starter invoice bills 2,000 calls (1,000 included + 1,000 × 0.01 = 10.00), not 2,100.
    lines = warehouse.query(
        "select tier, quantity, amount, description from marts.fct_invoice_lines "
        "where account_id = 'acct_0011' and price_id = 'starter_calls' order by tier"
    )
    assert [(t, q, a) for t, q, a, _ in lines] == [
        (1, Decimal(1000), Decimal("0.00")),
        (2, Decimal(1000), Decimal("10.00")),
    ]
    assert "hard limit 2,000 calls reached; 100 more not billed" in lines[1][3]
    # P10: exactly at the cap, no cap line; enterprise minimum 200.00 is met (400.00).
    assert (
        warehouse.query(
            "select line_type, amount from marts.fct_invoice_lines where account_id = 'acct_0009' "
            "and period_start = date '2026-01-01' and line_type in ('cap', 'minimum')"
        )
        == []
    )


def test_crossings_follow_as_of_without_new_usage(warehouse: Warehouse) -> None:
    # acct_0009 (plan free, 1,000 calls included, periods from the 1st): 600 calls a minute apart on Jan 10
    # and on Feb 10 from 00:00. 50 % (call 500, minute 499) is crossed at 08:19 each day; 80 % is not reached.
    minute = timedelta(minutes=1)
    events = _calls("acct_0009", 600, START, minute, "jan") + _calls(
        "acct_0009", 600, START + timedelta(days=31), minute, "feb"
    )
    warehouse.write_events("two_months.ndjson", events)
    alerts = (
        "select cast(period_start as varchar), threshold_pct, crossed_at from marts.usage_alerts "
        "where account_id = 'acct_0009' and alert_type = 'included_allowance' order by all"
    )
    jan = ("2026-01-01", 50, datetime(2026, 1, 10, 8, 19))
    feb = ("2026-02-01", 50, datetime(2026, 2, 10, 8, 19))

    # as_of Jan 20: February's period has not started, so its threshold is not reached yet.
    warehouse.build(as_of="2026-01-20")
    assert warehouse.query(alerts) == [jan]
    # No new file, as_of back to the newest event: February's period counts now, and its crossing is found
    # although its usage did not change since the last build.
    warehouse.build()
    assert warehouse.query(alerts) == [jan, feb]
    # Back to Jan 20: the February crossing held from the last build is not shown.
    warehouse.build(as_of="2026-01-20")
    assert warehouse.query(alerts) == [jan]
    warehouse.build()
    assert warehouse.query(alerts) == [jan, feb]
