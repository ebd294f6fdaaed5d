"""The warehouse against the independent plain-Python reference (tests/reference), on generated traffic
with duplicates, conflicts, aliases, late and malformed lines, non-2xx statuses, unknown accounts, several
anchor days, unique_count properties, hard limits, caps, minimums and prepaid credit grants: every invoice,
line, credit balance, unbilled row, usage row and per-file count must agree exactly."""

from __future__ import annotations

import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO_ROOT, Warehouse

sys.path.insert(0, str(REPO_ROOT / "tests"))
from reference.billing_reference import compute, load_catalog  # noqa: E402


def _files(warehouse: Warehouse) -> list[str]:
    from orchestration.code_location.assets.raw_events import list_event_files

    return list_event_files(str(warehouse.events_dir) + "/**/*")


def _generate(warehouse: Warehouse, fmt: str, events: int, seed: int) -> None:
    from orchestration.generator import generate_events

    generate_events(
        warehouse.events_dir,
        events=events,
        accounts=60,
        months=3,
        seed=seed,
        fmt=fmt,
        catalog_dir=REPO_ROOT / "seeds",
        write_catalog=warehouse.catalog_dir,
    )


def _assert_same(name: str, got: dict, want: dict, limit: int = 8) -> None:
    """got == want, with a short report of the differing keys (warehouse vs reference) when not."""
    if got == want:
        return
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    differ = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
    report = [f"{name}: {len(missing)} missing in the warehouse, {len(extra)} extra, {len(differ)} differ"]
    report += [f"  missing {k}: reference {want[k]}" for k in missing[:limit]]
    report += [f"  extra {k}: warehouse {got[k]}" for k in extra[:limit]]
    report += [f"  differ {k}: warehouse {g} reference {w}" for k, g, w in differ[:limit]]
    raise AssertionError("\n".join(report))


def _multiset(rows) -> dict[tuple, int]:
    return dict(Counter(rows))


def _compare(warehouse: Warehouse, *, expect_malformed: bool = True) -> None:
    ref = compute(_files(warehouse), str(warehouse.catalog_dir))
    catalog = load_catalog(warehouse.catalog_dir)

    # E3 per file.
    recon = {
        row[0]: dict(
            zip(
                ("rows_read", "rows_valid", "rows_duplicate", "rows_conflict", "rows_quarantined"),
                row[1:],
                strict=True,
            )
        )
        for row in warehouse.query(
            "select source_file, rows_read, rows_valid, rows_duplicate, rows_conflict, rows_quarantined "
            "from marts.event_reconciliation"
        )
    }
    ref_recon = {k: v for k, v in ref.reconciliation.items() if v["rows_read"] > 0}
    _assert_same("event_reconciliation", recon, ref_recon)
    # The data exercises what it should: re-sends, conflicts, bad lines, unbilled usage.
    assert sum(r["rows_duplicate"] for r in recon.values()) > 0
    assert sum(r["rows_conflict"] for r in recon.values()) > 0
    assert (sum(r["rows_quarantined"] for r in recon.values()) > 0) == expect_malformed

    # E1: the same lines are quarantined (reason names differ between the two implementations).
    quarantined = set(warehouse.query("select source_file, line_number from marts.events_quarantined"))
    assert quarantined == {(f, n) for f, n, _ in ref.quarantined}

    # Usage facts (P3 and 3a: a unique_count meter's units are its distinct values).
    usage = {
        (a, p, m, e): (u, c)
        for a, p, m, e, u, c in warehouse.query(
            "select account_id, period_start, meter, endpoint, units, event_count from marts.fct_account_period_usage"
        )
    }
    _assert_same("fct_account_period_usage", usage, ref.usage)
    unique_meters = {m for m, meter in catalog.meters.items() if meter.aggregation == "unique_count"}
    assert any(meter in unique_meters and units > 0 for (_, _, meter, _), (units, _) in ref.usage.items())

    # E5.
    unbilled = {
        (a, p, m, e, r): (u, c)
        for a, p, m, e, r, u, c in warehouse.query(
            "select account_id, period_start, meter, endpoint, reason, units, event_count from marts.unbilled_usage"
        )
    }
    _assert_same("unbilled_usage", unbilled, ref.unbilled)
    assert {reason for (*_, reason) in unbilled} >= {"unknown_account", "outside_plan"}

    # Invoices, every one of them, to the minor unit.
    invoices = {
        (a, p): {"currency": c, "subtotal": s, "credits_applied": cr, "total": t, "line_count": n}
        for a, p, c, s, cr, t, n in warehouse.query(
            "select account_id, period_start, currency, subtotal, credits_applied, total, line_count "
            "from marts.fct_invoices"
        )
    }
    ref_invoices = {
        k: {f: v[f] for f in ("currency", "subtotal", "credits_applied", "total", "line_count")}
        for k, v in ref.invoices.items()
    }
    _assert_same("fct_invoices", invoices, ref_invoices)
    assert sum(v["total"] for v in invoices.values()) > Decimal(0)

    # Every line (credit lines name their grant).
    lines = _multiset(
        (a, p, lt, pid or "", t or 0, q, amt, g or "")
        for a, p, lt, pid, t, q, amt, g in warehouse.query(
            "select account_id, period_start, line_type, price_id, tier, quantity, amount, grant_id "
            "from marts.fct_invoice_lines"
        )
    )
    ref_lines = _multiset(
        (
            r["account_id"],
            r["period_start"],
            r["line_type"],
            r["price_id"] or "",
            r["tier"] or 0,
            r["quantity"],
            r["amount"],
            r["grant_id"] or "",
        )
        for r in ref.lines
    )
    _assert_same(
        "fct_invoice_lines (account, period, type, price, tier, quantity, amount, grant)", lines, ref_lines
    )
    # The data reaches every kind of line and every rule that bites: P3 unique_count, P8, P10, P11.
    assert {r["line_type"] for r in ref.lines} >= {"base_fee", "usage", "cap", "minimum", "credit"}
    assert any(r["line_type"] == "usage" and r["meter"] in unique_meters for r in ref.lines)
    assert ref.hard_limit_excess

    # P8: the excess over a hard limit is reported in marts.usage_alerts (100 % hard_limit rows), here summed
    # per (account, period, price) since the alert has no plan segment column.
    excess: Counter = Counter()
    for a, p, pid, x in warehouse.query(
        "select account_id, period_start, price_id, excess_quantity from marts.usage_alerts "
        "where alert_type = 'hard_limit' and threshold_pct = 100 and excess_quantity > 0"
    ):
        excess[(a, p, pid)] += x
    ref_excess: Counter = Counter()
    for (a, p, pid, _segment_start), x in ref.hard_limit_excess.items():
        ref_excess[(a, p, pid)] += x
    _assert_same("usage_alerts hard_limit excess_quantity", dict(excess), dict(ref_excess))

    # P11 credit balances per grant and invoice period.
    balances = {
        (g, p): {
            "account_id": a,
            "period_end": pe,
            "currency": c,
            "opening_balance": o,
            "used": u,
            "expired": x,
            "closing_balance": cl,
        }
        for g, a, p, pe, c, o, u, x, cl in warehouse.query(
            "select grant_id, account_id, period_start, period_end, currency, opening_balance, used, expired, "
            "closing_balance from marts.fct_credit_balances"
        )
    }
    _assert_same("fct_credit_balances", balances, ref.credit_balances)
    assert any(row["expired"] > 0 for row in ref.credit_balances.values())
    assert any(row["used"] > 0 for row in ref.credit_balances.values())


# Plain NDJSON is compared by test_one_batch_and_many_batches_give_identical_invoices below.
@pytest.mark.parametrize("fmt", ["ndjson.gz"])
def test_generated_events_match_reference(warehouse: Warehouse, fmt: str) -> None:
    _generate(warehouse, fmt, events=30_000, seed=11)
    warehouse.build()
    _compare(warehouse)


def test_parquet_events_match_reference(warehouse: Warehouse) -> None:
    _generate(warehouse, "parquet", events=20_000, seed=5)
    warehouse.build()
    _compare(warehouse, expect_malformed=False)


def test_one_batch_and_many_batches_give_identical_invoices(warehouse: Warehouse, tmp_path: Path) -> None:
    """§6: the same events loaded as one batch and as several (oldest file last) give identical lines."""
    _generate(warehouse, "ndjson", events=20_000, seed=3)
    files = sorted(warehouse.events_dir.glob("*"))
    assert len(files) >= 3
    hold = tmp_path / "held"
    hold.mkdir()
    for f in files:
        f.rename(hold / f.name)
    for f in reversed(files):  # newest first: late copies arrive before the originals
        (hold / f.name).rename(f)
        warehouse.build()
    tables = {
        "lines": "select * from marts.fct_invoice_lines order by invoice_line_id",
        "invoices": "select * from marts.fct_invoices order by invoice_id",
        "usage": "select * from marts.fct_account_period_usage order by all",
        "unbilled": "select * from marts.unbilled_usage order by all",
        "recon": "select * exclude (loaded_at) from marts.event_reconciliation order by source_file",
    }
    several = {name: warehouse.query(sql) for name, sql in tables.items()}
    _compare(warehouse)
    warehouse.build(full_refresh=True)
    one = {name: warehouse.query(sql) for name, sql in tables.items()}
    for name in tables:
        assert one[name] == several[name], name
