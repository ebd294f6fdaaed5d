"""Unit tests of the reference implementation itself, on tiny hand-made inputs.

Every expected figure is worked out by hand in a comment next to it, so a reader can check the reference
against CONTRACT.md without trusting the code.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from .billing_reference import compute, parse_timestamp, period_start_for

# ---------------------------------------------------------------------------------------------------------
# A small catalog, modelled on seeds/, with one plan per rule under test
# ---------------------------------------------------------------------------------------------------------

CATALOG = {
    "meters.csv": """meter,aggregation,unique_field,unit_label,billable_statuses
api_calls,sum,,call,2xx
tokens,sum,,token,"2xx,4xx"
storage_gb,max,,GB,2xx
requests,count,,request,2xx
users,unique_count,properties.user_id,user,2xx
pages,unique_count,endpoint,page,2xx
""",
    "currencies.csv": """currency,minor_units
usd,2
eur,2
jpy,0
""",
    "plans.csv": """plan_id,plan_name,currency,base_fee,minimum_amount,maximum_amount
payg,Pay as you go,usd,0,,
pro,Pro,usd,49.00,,
eu,Business EUR,eur,99.00,,
jp,Starter JPY,jpy,1000,,
pack,Packages,usd,0,,
flat,Flat tier fee,usd,0,,
seats,Seats,usd,0,,
ent,Enterprise,usd,20.00,150.00,400.00
ent2,Enterprise 2,usd,31.00,250.00,200.00
prepaid,Prepaid,usd,5.00,,
""",
    "prices.csv": "price_id,plan_id,meter,endpoint,billing_scheme,tiers_mode,"
    "unit_amount,package_size,package_rounding,hard_limit\n"
    """payg_calls,payg,api_calls,,tiered,graduated,,,,
payg_tokens,payg,tokens,,per_unit,,0.001,,,
pro_calls,pro,api_calls,,tiered,graduated,,,,
pro_ai,pro,api_calls,/v1/ai/*,per_unit,,0.004,,,
pro_ai_chat,pro,api_calls,/v1/ai/chat*,per_unit,,0.005,,,
pro_search,pro,api_calls,/v1/search,per_unit,,0.002,,,
pro_storage,pro,storage_gb,,per_unit,,0.25,,,
pro_requests,pro,requests,*,per_unit,,0.01,,,
eu_calls,eu,api_calls,,tiered,volume,,,,
jp_calls,jp,api_calls,,per_unit,,0.15,,,
pack_up,pack,api_calls,,per_unit,,2.00,1000,up,
pack_down,pack,tokens,,per_unit,,2.00,1000,down,
flat_calls,flat,api_calls,,tiered,graduated,,,,5000
seat_users,seats,users,,per_unit,,2.00,,,4
seat_pages,seats,pages,,per_unit,,0.10,,,
ent_calls,ent,api_calls,,per_unit,,0.05,,,
ent2_calls,ent2,api_calls,,per_unit,,0.10,,,
pre_calls,prepaid,api_calls,,per_unit,,0.01,,,
""",
    "price_tiers.csv": """price_id,tier,up_to,unit_amount,flat_amount
payg_calls,1,50000,0,0
payg_calls,2,,0.001,0
pro_calls,1,1000,0,0
pro_calls,2,,0.01,0
eu_calls,1,100000,0.0009,0
eu_calls,2,1000000,0.0007,10.00
eu_calls,3,,0.0005,25.00
flat_calls,1,1000,0,5.00
flat_calls,2,,0.01,0
""",
    "accounts.csv": """account_id,account_name,currency,stripe_customer_id,billing_anchor_day,is_test
acct_payg,Payg,usd,,1,false
acct_mid,Mid-month,usd,,15,false
acct_pro,Pro,usd,,1,false
acct_change,Changer,usd,,1,false
acct_eu,Euro,eur,,1,false
acct_jp,Yen,jpy,,10,false
acct_pack,Packages,usd,,1,false
acct_flat,Flat,usd,,1,false
acct_late,Starts in February,usd,,1,false
acct_test,Internal QA,usd,,1,true
acct_seats,Seats,usd,,1,false
acct_seats2,Seats renewed mid-month,usd,,1,false
acct_ent,Enterprise,usd,,1,false
acct_switch,Switches plan,usd,,1,false
acct_churn,Churns,usd,,1,false
acct_credit,Prepaid,usd,,1,false
acct_entc,Enterprise with credits,usd,,1,false
""",
    "account_plans.csv": """account_id,plan_id,valid_from,valid_to
acct_payg,payg,2026-01-01,
acct_mid,payg,2026-01-01,
acct_pro,pro,2026-01-01,
acct_change,payg,2026-01-01,2026-01-10
acct_change,pro,2026-01-10,
acct_eu,eu,2026-01-01,
acct_jp,jp,2026-01-10,
acct_pack,pack,2026-01-01,
acct_flat,flat,2026-01-01,
acct_late,payg,2026-02-01,
acct_test,pro,2026-01-01,
acct_seats,seats,2026-01-01,
acct_seats2,seats,2026-01-01,2026-01-16
acct_seats2,seats,2026-01-16,
acct_ent,ent,2026-01-01,
acct_switch,ent,2026-01-01,2026-01-20
acct_switch,ent2,2026-01-20,
acct_churn,payg,2026-01-01,2026-01-10
acct_churn,ent,2026-01-10,2026-01-20
acct_credit,prepaid,2026-01-01,
acct_entc,ent,2026-01-01,
""",
    "credit_grants.csv": """grant_id,account_id,amount,effective_at,expires_at
gA,acct_credit,30.00,2026-01-10,2026-03-01
gB,acct_credit,20.125,2026-01-01,
gE_b,acct_entc,300.00,2026-01-01,
gE_a,acct_entc,300.00,2026-01-01,
gE_early,acct_entc,100.00,2025-12-01,
gE_late,acct_entc,70.00,2026-02-01,2026-02-15
g_test,acct_test,10.00,2026-01-01,
""",
}


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    folder = tmp_path / "catalog"
    folder.mkdir()
    for name, text in CATALOG.items():
        (folder / name).write_text(text)
    return str(folder)


def write_events(folder: Path, name: str, rows: list) -> str:
    """One line per row: dicts become JSON, strings are written exactly as given."""
    text = "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n"
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


def event(account: str, when: str, units=1, **extra) -> dict:
    return {"account_id": account, "timestamp": when, "units": units, **extra}


def invoice_lines(result, account: str, period_start: date) -> list[dict]:
    return [x for x in result.lines if x["account_id"] == account and x["period_start"] == period_start]


def usage_line(result, account: str, period_start: date, price_id: str, tier=None) -> dict:
    (line,) = [
        x
        for x in invoice_lines(result, account, period_start)
        if x["price_id"] == price_id and x["tier"] == tier
    ]
    return line


JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


# ---------------------------------------------------------------------------------------------------------
# P5 graduated: 50,000 calls free, then $0.001 a call
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "tier_2_quantity", "tier_2_amount", "total"),
    [
        # 120,000 calls: 50,000 free + 70,000 x 0.001 = $70.00
        (120_000, Decimal(70_000), Decimal("70.00"), Decimal("70.00")),
        # exactly 50,000: tier 2 is not reached; total $0.00
        (50_000, None, None, Decimal("0.00")),
        # 50,001: 1 x 0.001 = $0.001 -> rounds to $0.00, but the line (quantity 1) is kept
        (50_001, Decimal(1), Decimal("0.00"), Decimal("0.00")),
    ],
)
def test_graduated_allowance(tmp_path, catalog, calls, tier_2_quantity, tier_2_amount, total):
    path = write_events(tmp_path, "e.ndjson", [event("acct_payg", "2026-01-20T12:00:00Z", calls)])
    result = compute([path], catalog)

    invoice = result.invoices[("acct_payg", JAN)]
    assert invoice["subtotal"] == invoice["total"] == total
    tier_1 = usage_line(result, "acct_payg", JAN, "payg_calls", tier=1)
    assert tier_1["quantity"] == min(calls, 50_000) and tier_1["amount"] == 0
    tier_2 = [x for x in result.lines if x["tier"] == 2]
    if tier_2_quantity is None:
        assert tier_2 == []
    else:
        assert (tier_2[0]["quantity"], tier_2[0]["amount"]) == (tier_2_quantity, tier_2_amount)
    # base fee 0 (quantity 1, kept) + tier 1 (+ tier 2)
    assert invoice["line_count"] == 2 + (tier_2_quantity is not None)


# ---------------------------------------------------------------------------------------------------------
# P1 periods from the anchor day; P2 invoices up to as_of
# ---------------------------------------------------------------------------------------------------------


def test_anchor_day_15(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_mid", "2026-03-14T23:59:59Z"),  # day 14 < 15 -> period 2026-02-15
            event("acct_mid", "2026-03-15T01:00:00+02:00"),  # = 03-14 23:00 UTC -> period 2026-02-15
            event("acct_mid", "2026-03-15T00:00:00Z"),  # day 15 -> period 2026-03-15
        ],
    )
    result = compute([path], catalog, as_of=datetime(2026, 3, 20))

    assert result.usage[("acct_mid", date(2026, 2, 15), "api_calls", None)] == (2, 2)
    assert result.usage[("acct_mid", date(2026, 3, 15), "api_calls", None)] == (1, 1)
    # The plan starts 2026-01-01, inside the period 2025-12-15 .. 2026-01-15; periods up to as_of 03-20:
    assert sorted(p for a, p in result.invoices if a == "acct_mid") == [
        date(2025, 12, 15),
        date(2026, 1, 15),
        date(2026, 2, 15),
        date(2026, 3, 15),
    ]
    assert result.invoices[("acct_mid", date(2026, 2, 15))]["period_end"] == date(2026, 3, 15)


def test_period_start_examples():
    assert period_start_for(datetime(2026, 1, 14), 15) == date(2025, 12, 15)  # previous month, year before
    assert period_start_for(datetime(2026, 1, 15), 15) == date(2026, 1, 15)
    assert period_start_for(datetime(2026, 3, 31, 23, 59), 1) == date(2026, 3, 1)


def test_invoices_only_for_periods_starting_before_as_of(tmp_path, catalog):
    # The only event is at 2026-02-01 00:00: as_of = that instant, so the February period (start == as_of)
    # is not invoiced (P2 says "starts before"), but January is, even without usage (base fee only).
    path = write_events(tmp_path, "e.ndjson", [event("acct_pro", "2026-02-01T00:00:00Z")])
    result = compute([path], catalog)
    assert result.as_of == datetime(2026, 2, 1)
    assert ("acct_pro", FEB) not in result.invoices
    # pro base fee, whole January: 49.00 x 31/31
    assert result.invoices[("acct_pro", JAN)]["total"] == Decimal("49.00")
    assert result.invoices[("acct_pro", JAN)]["line_count"] == 1
    # test accounts never get invoices; acct_late (plan from February) has none for January
    assert not [k for k in result.invoices if k[0] in ("acct_test", "acct_late")]
    # every known non-test account with a plan in force in January has a January invoice
    assert sorted(a for a, p in result.invoices if p == JAN) == [
        "acct_change",
        "acct_churn",
        "acct_credit",
        "acct_ent",
        "acct_entc",
        "acct_eu",
        "acct_flat",
        "acct_pack",
        "acct_payg",
        "acct_pro",
        "acct_seats",
        "acct_seats2",
        "acct_switch",
    ]


# ---------------------------------------------------------------------------------------------------------
# P9 plan change in the middle of a period
# ---------------------------------------------------------------------------------------------------------


def test_plan_change_proration_and_tier_restart(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_change", "2026-01-05T12:00:00Z", 60_000),  # payg segment 01-01 .. 01-10
            event("acct_change", "2026-01-20T12:00:00Z", 1_500),  # pro segment 01-10 .. 02-01
        ],
    )
    result = compute([path], catalog)
    lines = invoice_lines(result, "acct_change", JAN)
    amounts = {(x["plan_id"], x["line_type"], x["tier"]): (x["quantity"], x["amount"]) for x in lines}
    assert amounts == {
        ("payg", "base_fee", None): (1, Decimal("0.00")),  # 0 x 9/31
        ("payg", "usage", 1): (50_000, Decimal("0.00")),
        ("payg", "usage", 2): (10_000, Decimal("10.00")),  # 10,000 x 0.001
        ("pro", "base_fee", None): (1, Decimal("34.77")),  # 49.00 x 22/31 = 34.7741... -> 34.77
        ("pro", "usage", 1): (1_000, Decimal("0.00")),  # pro's 1,000 free calls start afresh
        ("pro", "usage", 2): (500, Decimal("5.00")),  # 500 x 0.01
    }
    # 0 + 0 + 10.00 + 34.77 + 0 + 5.00
    assert result.invoices[("acct_change", JAN)]["total"] == Decimal("49.77")
    assert result.invoices[("acct_change", JAN)]["line_count"] == 6


# ---------------------------------------------------------------------------------------------------------
# P6 volume tiers (EUR, base fee 99.00)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "tier", "amount", "total"),
    [
        (100_000, 1, Decimal("90.00"), Decimal("189.00")),  # 100,000 x 0.0009 = 90.00 (up_to is inclusive)
        (100_001, 2, Decimal("80.00"), Decimal("179.00")),  # 100,001 x 0.0007 + 10 = 80.0007 -> 80.00
        (1_000_001, 3, Decimal("525.00"), Decimal("624.00")),  # 1,000,001 x 0.0005 + 25 = 525.0005
        (0, None, None, Decimal("99.00")),  # tier 1, 0 x 0.0009 + 0 flat = 0: line omitted
    ],
)
def test_volume_tier_boundary(tmp_path, catalog, calls, tier, amount, total):
    path = write_events(tmp_path, "e.ndjson", [event("acct_eu", "2026-01-10T00:00:00Z", calls)])
    result = compute([path], catalog)
    usage = [x for x in invoice_lines(result, "acct_eu", JAN) if x["line_type"] == "usage"]
    if tier is None:
        assert usage == []
    else:
        (line,) = usage
        assert (line["tier"], line["quantity"], line["amount"], line["currency"]) == (
            tier,
            calls,
            amount,
            "eur",
        )
    assert result.invoices[("acct_eu", JAN)]["total"] == total


# ---------------------------------------------------------------------------------------------------------
# P12 rounding: half away from zero, to the currency's minor units
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "amount"),
    [
        (5, Decimal("0.01")),  # 5 x 0.001 = 0.005, half a cent -> 0.01
        (4, Decimal("0.00")),  # 0.004 -> 0.00
        (15, Decimal("0.02")),  # 0.015 -> 0.02
        (25, Decimal("0.03")),  # 0.025 -> 0.03 (banker's rounding would give 0.02)
    ],
)
def test_half_a_minor_unit_rounds_away_from_zero(tmp_path, catalog, tokens, amount):
    path = write_events(
        tmp_path, "e.ndjson", [event("acct_payg", "2026-01-20T00:00:00Z", tokens, meter="tokens")]
    )
    result = compute([path], catalog)
    assert usage_line(result, "acct_payg", JAN, "payg_tokens")["amount"] == amount
    assert result.invoices[("acct_payg", JAN)]["total"] == amount


def test_subtotal_is_sum_of_rounded_lines(tmp_path, catalog):
    # 5 tokens -> 0.005 -> 0.01 and 50,005 calls -> 5 x 0.001 = 0.005 -> 0.01: total 0.02,
    # whereas rounding the unrounded sum (0.010) would also give 0.01; the contract wants 0.02.
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_payg", "2026-01-20T00:00:00Z", 5, meter="tokens"),
            event("acct_payg", "2026-01-21T00:00:00Z", 50_005),
        ],
    )
    assert compute([path], catalog).invoices[("acct_payg", JAN)]["total"] == Decimal("0.02")


def test_jpy_has_no_minor_units(tmp_path, catalog):
    # anchor day 10, plan from 2026-01-10: period 2026-01-10 .. 2026-02-10, base fee 1,000 yen
    path = write_events(
        tmp_path,
        "e.ndjson",
        [event("acct_jp", "2026-01-15T00:00:00Z", 10), event("acct_jp", "2026-02-12T00:00:00Z", 3)],
    )
    result = compute([path], catalog)
    # 10 x 0.15 = 1.5 yen -> 2; total 1,002
    assert usage_line(result, "acct_jp", date(2026, 1, 10), "jp_calls")["amount"] == Decimal(2)
    assert result.invoices[("acct_jp", date(2026, 1, 10))]["total"] == Decimal(1002)
    # 3 x 0.15 = 0.45 yen -> 0 (the line is kept: its quantity is 3); total 1,000
    assert usage_line(result, "acct_jp", date(2026, 2, 10), "jp_calls")["amount"] == Decimal(0)
    assert result.invoices[("acct_jp", date(2026, 2, 10))]["total"] == Decimal(1000)
    assert result.invoices[("acct_jp", date(2026, 2, 10))]["currency"] == "jpy"


# ---------------------------------------------------------------------------------------------------------
# P4 price matching; P3 aggregations
# ---------------------------------------------------------------------------------------------------------


def test_price_matching_and_aggregations(tmp_path, catalog):
    t = "2026-01-20T00:00:00Z"
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_pro", t, 10, endpoint="/v1/ai/chat/completions"),  # longest prefix: pro_ai_chat
            event("acct_pro", t, 10, endpoint="/v1/ai/embed"),  # prefix /v1/ai/: pro_ai
            event("acct_pro", t, 10, endpoint="/v1/search?q=shoes"),  # exact, query dropped: pro_search
            event("acct_pro", t, 10, endpoint="/v1/search/advanced"),  # no exact, no prefix: blank
            event("acct_pro", t, 10),  # no endpoint: blank
            event("acct_pro", t, 100, meter="requests", event_id="r1"),  # count: units ignored
            event("acct_pro", t, 100, meter="requests", event_id="r2"),
            event("acct_pro", t, 100, meter="requests", event_id="r3"),
            event("acct_pro", t, 5, meter="storage_gb"),  # max: 12
            event("acct_pro", t, 12, meter="storage_gb"),
            event("acct_pro", t, 7, meter="storage_gb"),
        ],
    )
    result = compute([path], catalog)
    got = {
        (x["price_id"], x["tier"]): (x["quantity"], x["amount"])
        for x in invoice_lines(result, "acct_pro", JAN)
        if x["line_type"] == "usage"
    }
    assert got == {
        ("pro_ai_chat", None): (10, Decimal("0.05")),  # 10 x 0.005
        ("pro_ai", None): (10, Decimal("0.04")),  # 10 x 0.004
        ("pro_search", None): (10, Decimal("0.02")),  # 10 x 0.002
        ("pro_calls", 1): (20, Decimal("0.00")),  # 20 pooled calls, inside the 1,000 free
        ("pro_requests", None): (3, Decimal("0.03")),  # 3 events x 0.01 (lone "*" = blank endpoint)
        ("pro_storage", None): (12, Decimal("3.00")),  # max 12 x 0.25
    }
    # 49.00 + 0.05 + 0.04 + 0.02 + 0.03 + 3.00
    assert result.invoices[("acct_pro", JAN)]["total"] == Decimal("52.14")
    # usage facts: the meter's aggregation per (account, period, meter, endpoint without query string)
    assert result.usage[("acct_pro", JAN, "requests", None)] == (3, 3)
    assert result.usage[("acct_pro", JAN, "storage_gb", None)] == (12, 3)
    assert result.usage[("acct_pro", JAN, "api_calls", "/v1/search")] == (10, 1)
    assert result.usage[("acct_pro", JAN, "api_calls", None)] == (10, 1)


# ---------------------------------------------------------------------------------------------------------
# P7 packages; P8 hard limit; tier 1 flat fee at quantity 0
# ---------------------------------------------------------------------------------------------------------


def test_packages(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_pack", "2026-01-20T00:00:00Z", 1001),  # up: ceil(1001/1000) = 2 x 2.00 = 4.00
            event("acct_pack", "2026-01-20T00:00:00Z", 1999, meter="tokens"),  # down: floor = 1 -> 2.00
            event("acct_pack", "2026-02-20T00:00:00Z", 999, meter="tokens"),  # down: 0 packages -> 0.00
        ],
    )
    result = compute([path], catalog)
    assert usage_line(result, "acct_pack", JAN, "pack_up")["amount"] == Decimal("4.00")
    assert usage_line(result, "acct_pack", JAN, "pack_down")["amount"] == Decimal("2.00")
    assert result.invoices[("acct_pack", JAN)]["total"] == Decimal("6.00")
    # February: no calls -> pack_up quantity 0 costs 0 and has no line; 999 tokens -> a 0.00 line
    feb = {x["price_id"]: x["amount"] for x in invoice_lines(result, "acct_pack", FEB)}
    assert feb == {None: Decimal("0.00"), "pack_down": Decimal("0.00")}


def test_hard_limit_and_flat_fee_at_quantity_zero(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_flat", "2026-01-20T00:00:00Z", 8000),
            event("acct_flat", "2026-02-20T00:00:00Z", 0, meter="unknown_thing"),  # sets as_of in Feb
        ],
    )
    result = compute([path], catalog)
    # January: 8,000 calls capped at the hard limit 5,000: tier 1: 1,000 x 0 + 5.00 flat = 5.00;
    # tier 2: 4,000 x 0.01 = 40.00; the 3,000 excess is not billed. Total 45.00.
    assert usage_line(result, "acct_flat", JAN, "flat_calls", 1)["amount"] == Decimal("5.00")
    tier_2 = usage_line(result, "acct_flat", JAN, "flat_calls", 2)
    assert (tier_2["quantity"], tier_2["amount"]) == (4000, Decimal("40.00"))
    assert result.invoices[("acct_flat", JAN)]["total"] == Decimal("45.00")
    # P8: the excess is reported per (account, period, price, plan segment start): 8,000 - 5,000
    assert result.hard_limit_excess == {("acct_flat", JAN, "flat_calls", JAN): Decimal(3000)}
    # February, no calls: tier 1 is reached at quantity 0, so its 5.00 flat fee is charged (P5)
    tier_1 = usage_line(result, "acct_flat", FEB, "flat_calls", 1)
    assert (tier_1["quantity"], tier_1["amount"]) == (0, Decimal("5.00"))
    assert result.invoices[("acct_flat", FEB)] == {
        "currency": "usd",
        "period_end": date(2026, 3, 1),
        "subtotal": Decimal("5.00"),
        "credits_applied": Decimal("0.00"),
        "total": Decimal("5.00"),
        "line_count": 2,  # base fee 0.00 (quantity 1) + tier 1 flat fee
    }


# ---------------------------------------------------------------------------------------------------------
# E2 dedupe, conflicts, tie-breaks; E3 conservation
# ---------------------------------------------------------------------------------------------------------


def test_duplicate_and_conflict(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            {"event_id": "e1", "account_id": "acct_payg", "units": 1, "timestamp": "2026-01-05T10:00:00Z"},
            # same id, earlier timestamp: this copy is kept; the first line becomes a conflicting duplicate
            {"event_id": "e1", "account_id": "acct_payg", "units": 2, "timestamp": "2026-01-05T09:00:00Z"},
            {"event_id": "e2", "account_id": "acct_payg", "units": 1, "timestamp": "2026-01-05T10:00:00Z"},
            # exact repeat with units written as "1.0": the same decimal value -> duplicate, no conflict
            {
                "event_id": "e2",
                "account_id": "acct_payg",
                "units": "1.0",
                "timestamp": "2026-01-05T10:00:00Z",
            },
        ],
    )
    result = compute([path], catalog)
    assert result.reconciliation[path] == {
        "rows_read": 4,
        "rows_valid": 2,
        "rows_duplicate": 2,
        "rows_conflict": 1,
        "rows_quarantined": 0,
    }
    assert result.usage[("acct_payg", JAN, "api_calls", None)] == (3, 2)  # 2 (kept e1) + 1 (e2)


def test_timestamp_tie_goes_to_smaller_file_path(tmp_path, catalog):
    # Same UTC instant written two ways; b.ndjson is listed first but a.ndjson is the smaller path.
    b = write_events(tmp_path, "b.ndjson", [event("acct_payg", "2026-01-05 12:00:00", 5, event_id="x")])
    a = write_events(tmp_path, "a.ndjson", [event("acct_payg", "2026-01-05T14:00:00+02:00", 7, event_id="x")])
    result = compute([b, a], catalog)
    assert result.usage[("acct_payg", JAN, "api_calls", None)] == (7, 1)
    assert result.reconciliation[a]["rows_valid"] == 1
    assert result.reconciliation[b] == {
        "rows_read": 1,
        "rows_valid": 0,
        "rows_duplicate": 1,
        "rows_conflict": 1,  # units 5 != 7
        "rows_quarantined": 0,
    }


def test_timestamp_tie_in_one_file_goes_to_smaller_line(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_payg", "2026-01-05T12:00:00Z", 3, event_id="x"),
            event("acct_payg", "2026-01-05T12:00:00Z", 4, event_id="x"),
        ],
    )
    assert compute([path], catalog).usage[("acct_payg", JAN, "api_calls", None)] == (3, 1)


def test_events_without_id_are_deduplicated_by_content(tmp_path, catalog):
    t = "2026-01-05T12:00:00Z"
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_payg", t, 1, endpoint="/v1/x?page=1"),
            event("acct_payg", t, 1, endpoint="/v1/x?page=2"),  # only the query string differs: same event
            event("acct_payg", "2026-01-05T13:00:00+01:00", "1.000", endpoint="/v1/x"),  # same, written apart
            event("acct_payg", t, 1, endpoint="/v1/x", event_id=""),  # "" = no event_id: same again
            event("acct_payg", t, 1, endpoint="/v1/x", properties={"k": 1}),  # different properties: new
        ],
    )
    result = compute([path], catalog)
    assert result.reconciliation[path]["rows_valid"] == 2
    assert result.reconciliation[path]["rows_duplicate"] == 3
    assert result.reconciliation[path]["rows_conflict"] == 0
    assert result.usage[("acct_payg", JAN, "api_calls", "/v1/x")] == (2, 2)


# ---------------------------------------------------------------------------------------------------------
# E1 quarantine: one line per reason
# ---------------------------------------------------------------------------------------------------------


def test_each_quarantine_reason(tmp_path, catalog):
    ok = {"account_id": "acct_payg", "timestamp": "2026-01-05T12:00:00Z"}
    lines = [
        "{not json",  # 1
        "",  # 2 blank: not a row
        "[1, 2]",  # 3
        '{"account_id": "acct_payg", "timestamp": "2026-01-05T12:00:00Z", "units": NaN}',  # 4 NaN is not JSON
        ok | {"event_id": {"a": 1}},  # 5
        {"timestamp": "2026-01-05T12:00:00Z"},  # 6
        ok | {"account_id": ""},  # 7 "" is missing, and stops the alias search
        ok | {"account_id": True},  # 8
        ok | {"meter": 5},  # 9
        ok | {"units": -1},  # 10
        ok | {"units": "abc"},  # 11
        ok | {"units": True},  # 12
        ok | {"units": "0.0000000001"},  # 13 ten fraction digits
        ok | {"units": "NaN"},  # 14
        {"account_id": "acct_payg"},  # 15
        ok | {"timestamp": 1767614400},  # 16 epoch number
        ok | {"timestamp": "2026-01-05"},  # 17 date only
        ok | {"timestamp": "2026-02-30T12:00:00Z"},  # 18 impossible date
        ok | {"timestamp": "2026-01-05T12:00:00+24:00"},  # 19 offset hour 24
        ok | {"endpoint": 42},  # 20
        ok | {"status_code": 99},  # 21
        ok | {"status_code": 600},  # 22
        ok | {"status_code": 200.5},  # 23
        ok | {"status_code": "abc"},  # 24
        "   \t",  # 25 whitespace only: not a row
        "{not json",  # 26 identical bad lines give one row each
    ]
    path = write_events(tmp_path, "bad.ndjson", lines)
    result = compute([path], catalog)
    assert result.quarantined == [
        (path, 1, "invalid_json"),
        (path, 3, "not_an_object"),
        (path, 4, "invalid_json"),
        (path, 5, "invalid_event_id"),
        (path, 6, "missing_account"),
        (path, 7, "missing_account"),
        (path, 8, "invalid_account"),
        (path, 9, "invalid_meter"),
        (path, 10, "invalid_units"),
        (path, 11, "invalid_units"),
        (path, 12, "invalid_units"),
        (path, 13, "invalid_units"),
        (path, 14, "invalid_units"),
        (path, 15, "missing_timestamp"),
        (path, 16, "invalid_timestamp"),
        (path, 17, "invalid_timestamp"),
        (path, 18, "invalid_timestamp"),
        (path, 19, "invalid_timestamp"),
        (path, 20, "invalid_endpoint"),
        (path, 21, "invalid_status"),
        (path, 22, "invalid_status"),
        (path, 23, "invalid_status"),
        (path, 24, "invalid_status"),
        (path, 26, "invalid_json"),
    ]
    # 26 lines, 2 blank: 24 rows, all quarantined
    assert result.reconciliation[path] == {
        "rows_read": 24,
        "rows_valid": 0,
        "rows_duplicate": 0,
        "rows_conflict": 0,
        "rows_quarantined": 24,
    }
    assert result.as_of is None and result.invoices == {}


def test_valid_but_unusual_events(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            # the seed example: user_id alias, unknown account "123"
            '{"user_id":"123","endpoint":"/api/v1/search","units":1,"timestamp":"2026-04-13T12:00:00Z"}',
            {"customer_id": 42, "timestamp": "2026-01-05T12:00:00Z"},  # number account -> "42"
            {
                "account_id": None,
                "customer_id": "acct_payg",
                "quantity": " 1.5e2 ",
                "timestamp": "2026-01-05T12:00:00Z",
            },
            # 9 fraction digits are fine; the timestamp's fraction is truncated to microseconds
            {
                "account_id": "acct_payg",
                "event_name": "tokens",
                "units": "0.000000001",
                "timestamp": "2026-01-05T12:00:00.1234567Z",
            },
            # 4xx is billable for tokens
            {
                "account_id": "acct_payg",
                "meter": "tokens",
                "units": 2,
                "timestamp": "2026-01-05T17:30:00+0530",
                "metadata": {"status": "404"},
            },
            {"account_id": "acct_payg", "units": 0, "timestamp": "2026-01-05T07:00:00-05"},  # 0 is valid
            {
                "account_id": "acct_payg",
                "timestamp": "2026-01-05T12:00:00Z",
                "metadata": {"endpoint": "/m?x=1"},
                "status_code": "201",
            },
        ],
    )
    result = compute([path], catalog)
    assert result.quarantined == []
    assert result.as_of == datetime(2026, 4, 13, 12)
    assert result.usage[("123", date(2026, 4, 1), "api_calls", "/api/v1/search")] == (1, 1)
    assert result.usage[("42", JAN, "api_calls", None)] == (1, 1)
    # 150 + 0 calls without endpoint
    assert result.usage[("acct_payg", JAN, "api_calls", None)] == (150, 2)
    assert result.usage[("acct_payg", JAN, "api_calls", "/m")] == (1, 1)
    assert result.usage[("acct_payg", JAN, "tokens", None)] == (Decimal("2.000000001"), 2)


def test_timestamp_parsing():
    assert parse_timestamp("2026-01-05T12:00:00.1234567Z") == datetime(2026, 1, 5, 12, 0, 0, 123456)
    assert parse_timestamp("2026-01-01T01:00:00+02:00") == datetime(2025, 12, 31, 23)
    assert parse_timestamp("2026-01-05 12:00:00-0130") == datetime(2026, 1, 5, 13, 30)
    assert parse_timestamp("2026-01-05T12:00:00") == datetime(2026, 1, 5, 12)


# ---------------------------------------------------------------------------------------------------------
# E4 billable statuses; E5 unbilled usage
# ---------------------------------------------------------------------------------------------------------


def test_billable_statuses(tmp_path, catalog):
    t = "2026-01-05T12:00:00Z"
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_payg", t, 1, status_code=201, event_id="a"),  # 2xx: billable
            event("acct_payg", t, 2, status_code=404, event_id="b"),  # 4xx on api_calls: not billable
            event("acct_payg", t, 4, status_code=302, event_id="c"),  # 3xx: never
            event("acct_payg", t, 8, status_code=500, meter="tokens", event_id="d"),  # 5xx: never
            event("acct_payg", t, 16, status_code=429, meter="tokens", event_id="e"),  # 4xx, tokens: billable
            event("acct_payg", t, 32, status_code=100, meter="tokens", event_id="f"),  # 1xx: never
        ],
    )
    result = compute([path], catalog)
    assert result.usage == {
        ("acct_payg", JAN, "api_calls", None): (1, 1),
        ("acct_payg", JAN, "tokens", None): (16, 1),
    }
    assert result.reconciliation[path]["rows_valid"] == 6  # not billable is still valid


def test_unbilled_usage_reasons(tmp_path, catalog):
    t = "2026-01-05T12:00:00Z"
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("nobody", t, 3, meter="widgets", event_id="1"),  # unknown account (tested first)
            event("nobody", t, 9, status_code=500, event_id="2"),  # not billable: not unbilled either
            event("acct_payg", t, 4, meter="widgets", event_id="3"),  # unknown meter
            event("acct_payg", t, 4, meter="widgets", status_code=404, event_id="4"),  # 4xx, unknown meter
            event("acct_late", t, 5, event_id="5"),  # plan starts 2026-02-01: outside plan
            event("acct_eu", t, 6, meter="tokens", event_id="6"),  # eu plan has no tokens price
            event("acct_test", t, 7, meter="widgets", event_id="7"),  # test account: not in unbilled
        ],
    )
    result = compute([path], catalog)
    assert result.unbilled == {
        ("nobody", JAN, "widgets", None, "unknown_account"): (3, 1),
        ("acct_payg", JAN, "widgets", None, "unknown_meter"): (4, 1),
        ("acct_late", JAN, "api_calls", None, "outside_plan"): (5, 1),
        ("acct_eu", JAN, "tokens", None, "no_price"): (6, 1),
    }
    # usage facts still include unknown and test accounts
    assert result.usage[("nobody", JAN, "widgets", None)] == (3, 1)
    assert result.usage[("acct_test", JAN, "widgets", None)] == (7, 1)
    assert ("acct_late", JAN) not in result.invoices


# ---------------------------------------------------------------------------------------------------------
# File formats: gzip and Parquet
# ---------------------------------------------------------------------------------------------------------


def test_gzip_and_parquet(tmp_path, catalog):
    import pyarrow as pa
    import pyarrow.parquet as pq

    gz = write_events(tmp_path, "e.jsonl.gz", [event("acct_payg", "2026-01-05T12:00:00Z", 10, event_id="g1")])
    table = pa.table(
        {
            "event_id": ["p1", "p2", "g1", "p4"],
            "account_id": ["acct_payg", "acct_payg", "acct_payg", None],
            "units": [2.5, None, 10.0, 1.0],  # None: absent -> 1
            "timestamp": ["2026-01-06T00:00:00Z", "2026-01-06T00:00:00Z", "2026-01-05T12:00:00Z", "x"],
        }
    )
    parquet = str(tmp_path / "e.parquet")
    pq.write_table(table, parquet)
    result = compute([gz, parquet], catalog)
    assert result.quarantined == [(parquet, 4, "missing_account")]
    # g1 appears in both with the same timestamp: the gzip file's path is smaller ("e.jsonl.gz" < "e.parquet")
    assert result.reconciliation[parquet] == {
        "rows_read": 4,
        "rows_valid": 2,
        "rows_duplicate": 1,
        "rows_conflict": 0,  # 10.0 == 10
        "rows_quarantined": 1,
    }
    assert result.usage[("acct_payg", JAN, "api_calls", None)] == (Decimal("13.5"), 3)  # 10 + 2.5 + 1


# ---------------------------------------------------------------------------------------------------------
# P3 unique_count (3a: nulls ignored, values compared as their JSON text); P8 on a unique count
# ---------------------------------------------------------------------------------------------------------


def test_unique_count(tmp_path, catalog):
    t = "2026-01-20T12:00:00Z"
    rows = [
        event("acct_seats", t, meter="users", event_id="1", endpoint="/a", properties={"user_id": "u1"}),
        event("acct_seats", t, meter="users", event_id="2", endpoint="/b", properties={"user_id": "u1"}),
        event("acct_seats", t, meter="users", event_id="3", endpoint="/a", properties={"user_id": "u2"}),
        # json.dumps writes these as 1 and 1.0: two different JSON texts, so two different users
        event("acct_seats", t, meter="users", event_id="4", properties={"user_id": 1}),
        event("acct_seats", t, meter="users", event_id="5", properties={"user_id": 1.0}),
        event("acct_seats", t, meter="users", event_id="6", properties={"user_id": "1"}),  # a string
        event("acct_seats", t, meter="users", event_id="7", properties={"user_id": None}),  # null: ignored
        event("acct_seats", t, meter="users", event_id="8"),  # absent: ignored
        event("acct_seats", t, meter="users", event_id="9", properties={"user_id": "u3"}, status_code=500),
        # endpoint as the unique field: the query string is dropped, absent endpoints are ignored
        event("acct_seats", t, meter="pages", event_id="p1", endpoint="/x"),
        event("acct_seats", t, meter="pages", event_id="p2", endpoint="/x?q=1"),
        event("acct_seats", t, meter="pages", event_id="p3", endpoint="/y"),
        event("acct_seats", t, meter="pages", event_id="p4"),
    ]
    result = compute([write_events(tmp_path, "e.ndjson", rows)], catalog)

    # Usage facts: distinct values per (account, period, meter, endpoint); event_count counts every event.
    assert result.usage[("acct_seats", JAN, "users", "/a")] == (2, 2)  # u1, u2
    assert result.usage[("acct_seats", JAN, "users", "/b")] == (1, 1)  # u1
    assert result.usage[("acct_seats", JAN, "users", None)] == (3, 5)  # 1, 1.0, "1"; null and absent ignored
    assert result.usage[("acct_seats", JAN, "pages", "/x")] == (1, 2)
    assert result.usage[("acct_seats", JAN, "pages", None)] == (0, 1)

    # The price pools all endpoints: {"u1", "u2", 1, 1.0, "1"} = 5 users (not 2 + 1 + 3 = 6), capped at the
    # hard limit 4: 4 x 2.00 = 8.00, excess 1. Pages: {/x, /y} = 2 x 0.10 = 0.20.
    users = usage_line(result, "acct_seats", JAN, "seat_users")
    assert (users["quantity"], users["amount"]) == (4, Decimal("8.00"))
    assert result.hard_limit_excess == {("acct_seats", JAN, "seat_users", JAN): Decimal(1)}
    pages = usage_line(result, "acct_seats", JAN, "seat_pages")
    assert (pages["quantity"], pages["amount"]) == (2, Decimal("0.20"))
    # base fee 0.00 + 8.00 + 0.20
    assert result.invoices[("acct_seats", JAN)]["total"] == Decimal("8.20")


def test_unique_count_per_plan_segment(tmp_path, catalog):
    # acct_seats2 has two segments of plan seats (01-01 .. 01-16, then from 01-16): the distinct count, like
    # any aggregation, restarts in each plan segment, while the usage fact counts the whole period.
    rows = [
        event(
            "acct_seats2", "2026-01-05T00:00:00Z", meter="users", event_id="1", properties={"user_id": "u1"}
        ),
        event(
            "acct_seats2", "2026-01-06T00:00:00Z", meter="users", event_id="2", properties={"user_id": "u2"}
        ),
        event(
            "acct_seats2", "2026-01-20T00:00:00Z", meter="users", event_id="3", properties={"user_id": "u1"}
        ),
    ]
    result = compute([write_events(tmp_path, "e.ndjson", rows)], catalog)
    got = sorted(
        (x["segment_start"], x["quantity"], x["amount"])
        for x in invoice_lines(result, "acct_seats2", JAN)
        if x["line_type"] == "usage"
    )
    # {u1, u2} = 2 x 2.00 = 4.00 in the first segment, {u1} = 1 x 2.00 = 2.00 in the second
    assert got == [(JAN, 2, Decimal("4.00")), (date(2026, 1, 16), 1, Decimal("2.00"))]
    assert result.usage[("acct_seats2", JAN, "users", None)] == (2, 3)  # u1, u2 over the period
    assert result.invoices[("acct_seats2", JAN)]["total"] == Decimal("6.00")


def test_unique_count_from_parquet_properties_json_text(tmp_path, catalog):
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = "2026-01-20T12:00:00Z"
    table = pa.table(
        {
            "event_id": ["1", "2", "3", "4"],
            "account_id": ["acct_seats"] * 4,
            "meter": ["users"] * 4,
            "timestamp": [t] * 4,
            # JSON text in a string column is read as JSON: "u1", 1 and 1.0 are three users; null ignored
            "properties": ['{"user_id":"u1"}', '{"user_id":1}', '{"user_id":1.0}', '{"user_id":null}'],
        }
    )
    path = str(tmp_path / "e.parquet")
    pq.write_table(table, path)
    result = compute([path], catalog)
    assert result.usage[("acct_seats", JAN, "users", None)] == (3, 4)
    assert usage_line(result, "acct_seats", JAN, "seat_users")["amount"] == Decimal("6.00")  # 3 x 2.00


# ---------------------------------------------------------------------------------------------------------
# P10 cap, then minimum (plan ent: base fee 20.00, minimum 150.00, maximum 400.00, 0.05 a call)
# ---------------------------------------------------------------------------------------------------------


def by_type(result, account: str, period_start: date) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for x in invoice_lines(result, account, period_start):
        out.setdefault(x["line_type"], []).append((x["quantity"], x["amount"]))
    return out


def test_cap_and_minimum(tmp_path, catalog):
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_ent", "2026-01-20T00:00:00Z", 10_000),
            event("acct_ent", "2026-02-20T00:00:00Z", 1_000),
            event("acct_ent", "2026-03-20T00:00:00Z", 0, meter="unknown_thing"),  # March: no billable usage
        ],
    )
    result = compute([path], catalog)
    # January: usage 10,000 x 0.05 = 500.00 > 400.00: cap -(500.00 - 400.00) = -100.00;
    # then 20.00 + 500.00 - 100.00 = 420.00 is not below 150.00: no minimum. Total 420.00.
    assert by_type(result, "acct_ent", JAN) == {
        "base_fee": [(1, Decimal("20.00"))],
        "usage": [(10_000, Decimal("500.00"))],
        "cap": [(1, Decimal("-100.00"))],
    }
    assert result.invoices[("acct_ent", JAN)]["total"] == Decimal("420.00")
    # February: usage 1,000 x 0.05 = 50.00, no cap; minimum 150.00 - (20.00 + 50.00) = 80.00. Total 150.00.
    assert by_type(result, "acct_ent", FEB) == {
        "base_fee": [(1, Decimal("20.00"))],
        "usage": [(1_000, Decimal("50.00"))],
        "minimum": [(1, Decimal("80.00"))],
    }
    assert result.invoices[("acct_ent", FEB)]["total"] == Decimal("150.00")
    # March: no usage (quantity 0, amount 0: omitted); minimum 150.00 - 20.00 = 130.00
    march = date(2026, 3, 1)
    assert by_type(result, "acct_ent", march) == {
        "base_fee": [(1, Decimal("20.00"))],
        "minimum": [(1, Decimal("130.00"))],
    }
    assert result.invoices[("acct_ent", march)]["total"] == Decimal("150.00")
    cap = next(x for x in result.lines if x["line_type"] == "cap")
    assert (cap["price_id"], cap["tier"], cap["meter"], cap["endpoint"], cap["plan_id"]) == (
        None,
        None,
        None,
        None,
        "ent",
    )


def test_cap_and_minimum_on_a_plan_change(tmp_path, catalog):
    # acct_switch: ent 01-01 .. 01-20 (19 days), then ent2 from 01-20 (12 days): base fee 31.00,
    # minimum 250.00, maximum 200.00, 0.10 a call. The plan on the period's last day (01-31) is ent2.
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_switch", "2026-01-05T00:00:00Z", 3_000),  # ent: 3,000 x 0.05 = 150.00
            event("acct_switch", "2026-01-25T00:00:00Z", 1_000),  # ent2: 1,000 x 0.10 = 100.00
        ],
    )
    result = compute([path], catalog)
    lines = invoice_lines(result, "acct_switch", JAN)
    got = sorted((x["line_type"], x["plan_id"], x["amount"]) for x in lines)
    assert got == [
        ("base_fee", "ent", Decimal("12.26")),  # 20.00 x 19/31 = 12.258... -> 12.26
        ("base_fee", "ent2", Decimal("12.00")),  # 31.00 x 12/31 = 12.00
        # usage over both segments 150.00 + 100.00 = 250.00 > ent2's 200.00 (ent's 400.00 does not apply)
        ("cap", "ent2", Decimal("-50.00")),
        # ent2's minimum, not prorated: 250.00 - (12.26 + 12.00 + 250.00 - 50.00 = 224.26) = 25.74
        ("minimum", "ent2", Decimal("25.74")),
        ("usage", "ent", Decimal("150.00")),
        ("usage", "ent2", Decimal("100.00")),
    ]
    # 12.26 + 12.00 + 150.00 + 100.00 - 50.00 + 25.74
    assert result.invoices[("acct_switch", JAN)]["total"] == Decimal("250.00")


def test_minimum_from_the_last_plan_when_none_is_in_force_on_the_last_day(tmp_path, catalog):
    # acct_churn: payg 01-01 .. 01-10, ent 01-10 .. 01-20, nothing on 01-31: the last plan in force is ent.
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_churn", "2026-01-05T00:00:00Z", 60_000),  # payg: 10,000 above 50,000 x 0.001 = 10.00
            event("acct_churn", "2026-01-15T00:00:00Z", 100),  # ent: 100 x 0.05 = 5.00
        ],
    )
    result = compute([path], catalog)
    lines = invoice_lines(result, "acct_churn", JAN)
    got = sorted((x["line_type"], x["plan_id"], x["tier"], x["amount"]) for x in lines)
    assert got == [
        ("base_fee", "ent", None, Decimal("6.45")),  # 20.00 x 10/31 = 6.4516... -> 6.45
        ("base_fee", "payg", None, Decimal("0.00")),
        # ent's minimum, not prorated: 150.00 - (0.00 + 6.45 + 0.00 + 10.00 + 5.00) = 128.55
        ("minimum", "ent", None, Decimal("128.55")),
        ("usage", "ent", None, Decimal("5.00")),
        ("usage", "payg", 1, Decimal("0.00")),
        ("usage", "payg", 2, Decimal("10.00")),
    ]
    assert result.invoices[("acct_churn", JAN)]["total"] == Decimal("150.00")


# ---------------------------------------------------------------------------------------------------------
# P11 credits and their balances
# ---------------------------------------------------------------------------------------------------------


def credit_lines(result, account: str, period_start: date) -> list[tuple]:
    return [
        (x["grant_id"], x["amount"], x["unit_amount"])
        for x in invoice_lines(result, account, period_start)
        if x["line_type"] == "credit"
    ]


def header(result, account: str, period_start: date) -> tuple:
    invoice = result.invoices[(account, period_start)]
    return invoice["subtotal"], invoice["credits_applied"], invoice["total"], invoice["line_count"]


def balance(result, grant_id: str, period_start: date) -> tuple:
    row = result.credit_balances[(grant_id, period_start)]
    return row["opening_balance"], row["used"], row["expired"], row["closing_balance"]


def test_credits_two_grants(tmp_path, catalog):
    # acct_credit, plan prepaid: base fee 5.00 (never credited), 0.01 a call.
    # gA 30.00, effective 01-10, expires 03-01 (= the February period's end);
    # gB 20.125, effective 01-01, never expires.
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_credit", "2026-01-20T00:00:00Z", 1_500),  # 15.00
            event("acct_credit", "2026-02-20T00:00:00Z", 2_000),  # 20.00
            event("acct_credit", "2026-03-20T00:00:00Z", 1_000),  # 10.00
        ],
    )
    result = compute([path], catalog)
    march = date(2026, 3, 1)

    # January: creditable 15.00. Both grants usable; gA expires first so it goes first although gB took
    # effect earlier: gA 15.00 (15.00 left), gB nothing. Subtotal 5.00 + 15.00 = 20.00, total 5.00.
    assert credit_lines(result, "acct_credit", JAN) == [("gA", Decimal("-15.00"), Decimal("-15.00"))]
    assert header(result, "acct_credit", JAN) == (Decimal("20.00"), Decimal("15.00"), Decimal("5.00"), 3)
    assert balance(result, "gA", JAN) == (Decimal("30.00"), Decimal("15.00"), 0, Decimal("15.00"))
    assert balance(result, "gB", JAN) == (Decimal("20.125"), 0, 0, Decimal("20.125"))

    # February (period_end 03-01): gA expires exactly at period end, so it is not usable (expires_at must be
    # after period_end) and its 15.00 is lost. gB pays min(20.125, 20.00) = 20.00, 0.125 left.
    # Subtotal 5.00 + 20.00 = 25.00, total 5.00.
    assert credit_lines(result, "acct_credit", FEB) == [("gB", Decimal("-20.00"), Decimal("-20.00"))]
    assert header(result, "acct_credit", FEB) == (Decimal("25.00"), Decimal("20.00"), Decimal("5.00"), 3)
    assert balance(result, "gA", FEB) == (Decimal("15.00"), 0, Decimal("15.00"), 0)
    assert balance(result, "gB", FEB) == (Decimal("20.125"), Decimal("20.00"), 0, Decimal("0.125"))

    # March: gA has no row any more (expired before the period starts). gB pays its last 0.125, billed as
    # -0.13 (half away from zero); unit_amount keeps -0.125. Subtotal 15.00, credits 0.13, total 14.87.
    assert credit_lines(result, "acct_credit", march) == [("gB", Decimal("-0.13"), Decimal("-0.125"))]
    assert header(result, "acct_credit", march) == (Decimal("15.00"), Decimal("0.13"), Decimal("14.87"), 3)
    assert ("gA", march) not in result.credit_balances
    assert balance(result, "gB", march) == (Decimal("0.125"), Decimal("0.125"), 0, 0)

    # credit lines: quantity 1, no price, tier, meter or endpoint
    line = next(x for x in result.lines if x["line_type"] == "credit")
    assert (line["quantity"], line["price_id"], line["tier"], line["meter"], line["endpoint"]) == (
        1,
        None,
        None,
        None,
        None,
    )
    # test accounts get no invoices, hence no credits and no balance rows
    assert not [k for k in result.credit_balances if k[0] == "g_test"]


def test_credits_pay_usage_after_the_cap_never_base_fees_or_minimums(tmp_path, catalog):
    # acct_entc, plan ent (base 20.00, minimum 150.00, maximum 400.00, 0.05 a call). Never-expiring grants
    # gE_early 100.00 (effective 2025-12-01), gE_a and gE_b 300.00 each (effective 01-01: grant_id decides);
    # gE_late 70.00, effective 02-01, expires 02-15.
    path = write_events(
        tmp_path,
        "e.ndjson",
        [
            event("acct_entc", "2026-01-20T00:00:00Z", 10_000),  # 500.00, capped at 400.00
            event("acct_entc", "2026-02-20T00:00:00Z", 1_000),  # 50.00, minimum 80.00
        ],
    )
    result = compute([path], catalog)

    # January: creditable = usage 500.00 + cap -100.00 = 400.00 (the 20.00 base fee is not creditable).
    # Order: all never expire -> effective_at: gE_early 100.00, then gE_a (before gE_b) 300.00.
    assert credit_lines(result, "acct_entc", JAN) == [
        ("gE_early", Decimal("-100.00"), Decimal("-100.00")),
        ("gE_a", Decimal("-300.00"), Decimal("-300.00")),
    ]
    # subtotal 20.00 + 500.00 - 100.00 = 420.00; credits 400.00; total 20.00; lines: base, usage, cap, 2 credits
    assert header(result, "acct_entc", JAN) == (Decimal("420.00"), Decimal("400.00"), Decimal("20.00"), 5)
    assert balance(result, "gE_b", JAN) == (Decimal("300.00"), 0, 0, Decimal("300.00"))
    assert ("gE_late", JAN) not in result.credit_balances  # effective 02-01, not before January's end

    # February: creditable = usage 50.00 (the 80.00 minimum is not creditable): gE_b 50.00, 250.00 left.
    # gE_late (expires 02-15, before period_end 03-01) is never usable: its 70.00 expires.
    assert credit_lines(result, "acct_entc", FEB) == [("gE_b", Decimal("-50.00"), Decimal("-50.00"))]
    # subtotal 20.00 + 50.00 + 80.00 = 150.00; credits 50.00; total 100.00
    assert header(result, "acct_entc", FEB) == (Decimal("150.00"), Decimal("50.00"), Decimal("100.00"), 4)
    assert balance(result, "gE_b", FEB) == (Decimal("300.00"), Decimal("50.00"), 0, Decimal("250.00"))
    assert balance(result, "gE_late", FEB) == (Decimal("70.00"), 0, Decimal("70.00"), 0)
    # exhausted grants keep a (zero) row while they are in force
    assert balance(result, "gE_early", FEB) == (0, 0, 0, 0)
    assert balance(result, "gE_a", FEB) == (0, 0, 0, 0)
    assert {k[1] for k in result.credit_balances if k[0].startswith("gE")} == {JAN, FEB}


def test_every_invoice_reconciles(tmp_path, catalog):
    """Invariants over a mixed run: subtotal = non-credit lines, credits_applied = -credit lines,
    total = subtotal - credits_applied, line_count = lines; balances chain from one period to the next."""
    rows = [
        event(a, f"2026-{m:02d}-20T00:00:00Z", 2_500, event_id=f"{a}-{m}")
        for a in ("acct_credit", "acct_entc", "acct_ent", "acct_switch", "acct_pro")
        for m in (1, 2, 3)
    ]
    result = compute([write_events(tmp_path, "e.ndjson", rows)], catalog)
    for (account, period_start), invoice in result.invoices.items():
        lines = invoice_lines(result, account, period_start)
        non_credit = sum(x["amount"] for x in lines if x["line_type"] != "credit")
        credits = -sum(x["amount"] for x in lines if x["line_type"] == "credit")
        assert invoice["subtotal"] == non_credit
        assert invoice["credits_applied"] == credits >= 0
        assert invoice["total"] == invoice["subtotal"] - invoice["credits_applied"]
        assert invoice["line_count"] == len(lines)
    by_grant: dict[str, list] = {}
    for (grant_id, _period_start), row in sorted(result.credit_balances.items()):
        assert row["closing_balance"] == row["opening_balance"] - row["used"] - row["expired"] >= 0
        by_grant.setdefault(grant_id, []).append(row)
    for rows_of_grant in by_grant.values():
        for before, after in zip(rows_of_grant, rows_of_grant[1:], strict=False):
            assert after["opening_balance"] == before["closing_balance"]
