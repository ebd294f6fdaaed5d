"""The warehouse against the independent plain-Python reference (tests/reference), on generated traffic
with duplicates, conflicts, aliases, late and malformed lines, non-2xx statuses, unknown accounts and
several anchor days: every invoice, line, unbilled row, usage row and per-file count must agree exactly."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO_ROOT, Warehouse

sys.path.insert(0, str(REPO_ROOT / "tests"))
from reference.billing_reference import compute  # noqa: E402


def _files(warehouse: Warehouse) -> list[str]:
    from orchestration.assets.raw_events import list_event_files

    return list_event_files(str(warehouse.events_dir) + "/**/*")


def _generate(warehouse: Warehouse, fmt: str, events: int, seed: int) -> None:
    from orchestration.events.generator import generate_events

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


def ref_lines_raw(ref, skip) -> list[tuple]:
    return [
        (r["account_id"], r["period_start"], r["line_type"])
        for r in ref.lines
        if (r["account_id"], r["period_start"]) not in skip
    ]


def _compare(warehouse: Warehouse, *, expect_malformed: bool = True) -> None:
    ref = compute(_files(warehouse), str(warehouse.catalog_dir))

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
    assert recon == ref_recon
    # The data exercises what it should: re-sends, conflicts, bad lines, unbilled usage.
    assert sum(r["rows_duplicate"] for r in recon.values()) > 0
    assert sum(r["rows_conflict"] for r in recon.values()) > 0
    assert (sum(r["rows_quarantined"] for r in recon.values()) > 0) == expect_malformed

    # E1: the same lines are quarantined (reason names differ between the two implementations).
    quarantined = set(warehouse.query("select source_file, line_number from marts.events_quarantined"))
    assert quarantined == {(f, n) for f, n, _ in ref.quarantined}

    # Usage facts.
    usage = {
        (a, p, m, e): (u, c)
        for a, p, m, e, u, c in warehouse.query(
            "select account_id, period_start, meter, endpoint, units, event_count from marts.fct_account_period_usage"
        )
    }
    assert usage == ref.usage

    # E5.
    unbilled = {
        (a, p, m, e, r): (u, c)
        for a, p, m, e, r, u, c in warehouse.query(
            "select account_id, period_start, meter, endpoint, reason, units, event_count from marts.unbilled_usage"
        )
    }
    assert unbilled == ref.unbilled
    assert {reason for (*_, reason) in unbilled} >= {"unknown_account", "outside_plan"}

    # Invoices and lines, to the minor unit.
    skip = ref.incomplete_invoices
    invoices = {
        (a, p): {"currency": c, "subtotal": s, "total": t, "line_count": n}
        for a, p, c, s, t, n in warehouse.query(
            "select account_id, period_start, currency, subtotal, total, line_count from marts.fct_invoices"
        )
        if (a, p) not in skip
    }
    ref_invoices = {
        k: {
            "currency": v["currency"],
            "subtotal": v["subtotal"],
            "total": v["total"],
            "line_count": v["line_count"],
        }
        for k, v in ref.invoices.items()
        if k not in skip
    }
    assert invoices == ref_invoices
    assert sum(v["total"] for v in invoices.values()) > Decimal(0)

    assert {lt for (_, _, lt, *_rest) in ref_lines_raw(ref, skip)} >= {"base_fee", "usage"}
    lines = sorted(
        (a, p, lt, pid or "", t or 0, q, amt)
        for a, p, lt, pid, t, q, amt in warehouse.query(
            "select account_id, period_start, line_type, price_id, tier, quantity, amount from marts.fct_invoice_lines"
        )
        if (a, p) not in skip
    )
    ref_lines = sorted(
        (
            r["account_id"],
            r["period_start"],
            r["line_type"],
            r["price_id"] or "",
            r["tier"] or 0,
            r["quantity"],
            r["amount"],
        )
        for r in ref.lines
        if (r["account_id"], r["period_start"]) not in skip
    )
    assert lines == ref_lines


@pytest.mark.parametrize("fmt", ["ndjson", "ndjson.gz"])
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
