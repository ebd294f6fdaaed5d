"""End to end through the Dagster assets: staging, dedupe, conservation, incrementality, pricing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from conftest import Warehouse


def calls(account: str, n: int, day: str, prefix: str, endpoint: str = "/v1/list") -> list[dict]:
    return [
        {
            "event_id": f"{prefix}{i}",
            "account_id": account,
            "timestamp": f"{day}T{i % 24:02d}:00:00Z",
            "endpoint": endpoint,
        }
        for i in range(n)
    ]


def test_guide_pricing_and_incremental_runs(warehouse: Warehouse) -> None:
    # acct_0002 is on payg (50,000 free, then 0.001 USD) with anchor day 15:
    # 120,000 calls between Feb 15 and Mar 14 → 70,000 × 0.001 = 70.00 USD.
    warehouse.write_events("batch1.ndjson", calls("acct_0002", 120_000, "2026-02-20", "g"))
    warehouse.build()
    lines = warehouse.query(
        """select tier, quantity, amount from marts.fct_invoice_lines
           where account_id = 'acct_0002' and period_start = date '2026-02-15' and line_type = 'usage'
           order by tier"""
    )
    assert lines == [(1, Decimal("50000"), Decimal("0")), (2, Decimal("70000"), Decimal("70.00"))]
    total = warehouse.query(
        "select total from marts.fct_invoices where account_id = 'acct_0002' and period_start = date '2026-02-15'"
    )
    assert total == [(Decimal("70.00"),)]

    # Running again changes nothing and reads no file again.
    before = {
        t: warehouse.query(f"select * from {t} order by all")
        for t in ("marts.fct_invoice_lines", "marts.fct_invoices", "staging.stg_raw_events__usage_events")
    }
    warehouse.build()
    for table, rows in before.items():
        assert warehouse.query(f"select * from {table} order by all") == rows, table

    # A new file is the only one read: batch1's rows keep their original load time.
    loaded_at_1 = warehouse.query(
        "select distinct loaded_at from staging.stg_raw_events__usage_events where source_file like '%batch1%'"
    )
    warehouse.write_events("batch2.ndjson", calls("acct_0002", 10, "2026-02-21", "h"))
    warehouse.build()
    per_file = warehouse.query(
        """select source_file like '%batch1%', count(*), count(distinct loaded_at)
           from staging.stg_raw_events__usage_events group by 1 order by 1"""
    )
    assert per_file == [(False, 10, 1), (True, 120_000, 1)]
    assert (
        warehouse.query(
            "select distinct loaded_at from staging.stg_raw_events__usage_events where source_file like '%batch1%'"
        )
        == loaded_at_1
    )
    # 120,010 calls → 70,010 × 0.001 = 70.01
    assert warehouse.query(
        "select total from marts.fct_invoices where account_id = 'acct_0002' and period_start = date '2026-02-15'"
    ) == [(Decimal("70.01"),)]


def test_dedupe_is_independent_of_load_order(warehouse: Warehouse, tmp_path, monkeypatch) -> None:
    # e1 arrives first at 10:00, then a later file brings an earlier copy (09:00, 5 units): the earlier
    # copy wins (E2) whichever file was loaded first, and the 10:00 copy is a conflicting duplicate.
    first = [
        {"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-05T10:00:00Z", "units": 1},
        {"event_id": "e2", "account_id": "acct_0001", "timestamp": "2026-01-05T10:00:00Z"},
        {
            "event_id": "e3",
            "account_id": "acct_0001",
            "timestamp": "2026-01-05T11:00:00Z",
            "meter": "tokens",
            "units": 7,
        },
    ]
    second = [
        {"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-05T09:00:00Z", "units": 5},
        {"event_id": "e2", "account_id": "acct_0001", "timestamp": "2026-01-05T10:00:00Z"},  # exact re-send
        {
            "event_id": "e3",
            "account_id": "acct_0001",
            "timestamp": "2026-01-05T11:00:00+00:00",
            "meter": "tokens",
            "units": "7.000",
        },  # same content, other spelling: a duplicate, not a conflict
    ]

    # Several batches, the later-dated file loaded first.
    warehouse.write_events("b_second.ndjson", second)
    warehouse.build()
    warehouse.write_events("a_first.ndjson", first)
    warehouse.build()
    several = {
        "kept": warehouse.query(
            "select event_id, units, source_file like '%b_second%', duplicate_count, conflict_count "
            "from intermediate.int_usage_events_deduplicated order by event_id"
        ),
        "recon": warehouse.query(
            "select source_file like '%b_second%', rows_read, rows_valid, rows_duplicate, rows_conflict, "
            "rows_quarantined from marts.event_reconciliation order by 1"
        ),
        "lines": warehouse.query("select * from marts.fct_invoice_lines order by invoice_line_id"),
    }
    # e1: the 09:00 copy (b_second) wins; e2 ties on time → smaller path a_first wins; e3 ties → a_first.
    assert several["kept"] == [
        ("e1", Decimal("5"), True, 1, 1),
        ("e2", Decimal("1"), False, 1, 0),
        ("e3", Decimal("7"), False, 1, 0),
    ]
    assert several["recon"] == [(False, 3, 2, 1, 1, 0), (True, 3, 1, 2, 0, 0)]

    # The same files as one batch, and a full refresh, give the same result.
    warehouse.build(full_refresh=True)
    assert (
        warehouse.query("select * from marts.fct_invoice_lines order by invoice_line_id") == several["lines"]
    )
    assert (
        warehouse.query(
            "select event_id, units, source_file like '%b_second%', duplicate_count, conflict_count "
            "from intermediate.int_usage_events_deduplicated order by event_id"
        )
        == several["kept"]
    )


def test_validation_aliases_and_quarantine(warehouse: Warehouse) -> None:
    lines = [
        # valid, with aliases and offsets
        '{"user_id":"123","endpoint":"/api/v1/search","units":1,"timestamp":"2026-04-13T12:00:00Z"}',
        '{"event_id":"n1","customer_id":42,"event_name":"tokens","quantity":"2.5","timestamp":"2026-01-31 23:30:00-02:00",'
        '"metadata":{"endpoint":"/v1/ai/chat?x=1","status":"404"}}',
        '{"event_id":"n2","account_id":"acct_0001","timestamp":"2026-01-10T10:00:00.1234567+0530","units":0}',
        '{"event_id":"n3","account_id":"acct_0001","timestamp":"2026-01-10T10:00:00+05","units":1.123456789}',
        "",
        "   ",
        # invalid, one reason each
        "not json",
        "[1,2]",
        '{"event_id":"x1","timestamp":"2026-01-10T10:00:00Z"}',
        '{"event_id":"x2","account_id":"","timestamp":"2026-01-10T10:00:00Z"}',
        '{"event_id":"x3","account_id":"a","timestamp":1767000000}',
        '{"event_id":"x4","account_id":"a","timestamp":"2026-01-10"}',
        '{"event_id":"x5","account_id":"a","timestamp":"2026-02-30T10:00:00Z"}',
        '{"event_id":"x6","account_id":"a","timestamp":"2026-01-10T10:00:00Z","units":-1}',
        '{"event_id":"x7","account_id":"a","timestamp":"2026-01-10T10:00:00Z","units":"lots"}',
        '{"event_id":"x8","account_id":"a","timestamp":"2026-01-10T10:00:00Z","units":true}',
        '{"event_id":"x9","account_id":"a","timestamp":"2026-01-10T10:00:00Z","units":1.1234567891}',
        '{"event_id":"x10","account_id":"a","timestamp":"2026-01-10T10:00:00Z","status_code":"ok"}',
        '{"event_id":"x11","account_id":"a","timestamp":"2026-01-10T10:00:00Z","status_code":700}',
        '{"event_id":"x12","account_id":"a","timestamp":"2026-01-10T24:00:00Z"}',
        '{"event_id":"x12","account_id":"a","timestamp":"2026-01-10T24:00:00Z"}',
    ]
    warehouse.write_events("mixed.ndjson", lines)
    warehouse.build()

    quarantined = warehouse.query(
        "select line_number, reason from marts.events_quarantined order by line_number"
    )
    assert quarantined == [
        (7, "not_json"),
        (8, "not_object"),
        (9, "missing_account"),
        (10, "missing_account"),
        (11, "invalid_timestamp"),
        (12, "invalid_timestamp"),
        (13, "invalid_timestamp"),
        (14, "negative_units"),
        (15, "invalid_units"),
        (16, "invalid_units"),
        (17, "units_too_precise"),
        (18, "invalid_status"),
        (19, "invalid_status"),
        (20, "invalid_timestamp"),
        (21, "invalid_timestamp"),
    ]
    raw = warehouse.query("select raw from marts.events_quarantined where line_number = 7")
    assert raw == [("not json",)]

    valid = warehouse.query(
        """select line_number, account_id, meter, units, event_at, endpoint, status_code
           from staging.stg_raw_events__usage_events where is_valid order by line_number"""
    )

    assert valid == [
        (1, "123", "api_calls", Decimal("1"), datetime(2026, 4, 13, 12, 0), "/api/v1/search", 200),
        # 23:30 at -02:00 is 01:30 UTC the next day; the query string is dropped; "404" is a status.
        (2, "42", "tokens", Decimal("2.5"), datetime(2026, 2, 1, 1, 30), "/v1/ai/chat", 404),
        # +0530: 10:00 local is 04:30 UTC; fraction truncated to microseconds.
        (3, "acct_0001", "api_calls", Decimal("0"), datetime(2026, 1, 10, 4, 30, 0, 123456), None, 200),
        (4, "acct_0001", "api_calls", Decimal("1.123456789"), datetime(2026, 1, 10, 5, 0), None, 200),
    ]
    # E3: 21 lines, 2 blank → 19 rows = 4 valid + 0 duplicates + 15 quarantined.
    assert warehouse.query(
        "select rows_read, rows_valid, rows_duplicate, rows_quarantined from marts.event_reconciliation"
    ) == [(19, 4, 0, 15)]


def test_unbilled_usage_reasons(warehouse: Warehouse) -> None:
    events = [
        {"event_id": "u1", "account_id": "nobody", "timestamp": "2026-02-02T00:00:00Z"},
        {
            "event_id": "u2",
            "account_id": "acct_0001",
            "meter": "gpu_hours",
            "units": 3,
            "timestamp": "2026-02-02T00:00:00Z",
        },
        # acct_0007 is on payg from 2026-02-05: earlier usage is outside any plan.
        {"event_id": "u3", "account_id": "acct_0007", "timestamp": "2026-02-04T23:59:59Z"},
        # payg has no compute_seconds price.
        {
            "event_id": "u4",
            "account_id": "acct_0007",
            "meter": "compute_seconds",
            "units": "1.5",
            "timestamp": "2026-02-06T00:00:00Z",
        },
        # not billable (5xx) and a test account: neither is unbilled usage.
        {"event_id": "u5", "account_id": "nobody", "status_code": 503, "timestamp": "2026-02-02T00:00:00Z"},
        {
            "event_id": "u6",
            "account_id": "acct_0008",
            "meter": "gpu_hours",
            "timestamp": "2026-02-02T00:00:00Z",
        },
    ]
    warehouse.write_events("u.ndjson", events)
    warehouse.build()
    assert warehouse.query(
        "select account_id, period_start, meter, reason, units, event_count from marts.unbilled_usage order by all"
    ) == [
        ("acct_0001", date(2026, 2, 1), "gpu_hours", "unknown_meter", Decimal("3"), 1),
        ("acct_0007", date(2026, 1, 5), "api_calls", "outside_plan", Decimal("1"), 1),
        (
            "acct_0007",
            date(2026, 2, 5),
            "compute_seconds",
            "no_price",
            Decimal("1.5"),
            1,
        ),
        ("nobody", date(2026, 2, 1), "api_calls", "unknown_account", Decimal("1"), 1),
    ]
    # The test account has usage rows but no invoices.
    assert warehouse.query(
        "select count(*) from marts.fct_account_period_usage where account_id = 'acct_0008'"
    ) == [(1,)]
    assert warehouse.query("select count(*) from marts.fct_invoices where account_id = 'acct_0008'") == [(0,)]


def test_hostile_file_names_are_literals(warehouse: Warehouse) -> None:
    # §4a: a quote or semicolon in a path neither breaks the build nor runs anything.
    name = "it's; drop table marts.fct_invoices; --.ndjson"
    warehouse.write_events(name, calls("acct_0001", 3, "2026-01-03", "q"))
    warehouse.build()
    assert warehouse.query("select rows_read, rows_valid from marts.event_reconciliation") == [(3, 3)]
    assert warehouse.query("select count(*) from marts.fct_invoices")[0][0] > 0
