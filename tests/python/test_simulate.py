"""`usage-billing simulate`: January re-priced under a draft catalog on a copy of the warehouse, with the
deltas worked out by hand; the warehouse itself is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import shutil
from decimal import Decimal as D

from conftest import Warehouse

from orchestration.cli import main


def test_simulate_draft_catalog(readers_warehouse: Warehouse, tmp_path, monkeypatch, capsys) -> None:
    draft = tmp_path / "draft"
    shutil.copytree(readers_warehouse.catalog_dir, draft)
    prices = (draft / "prices.csv").read_text()
    assert "/v1/ai/*,per_unit,,0.005," in prices
    (draft / "prices.csv").write_text(prices.replace("/v1/ai/*,per_unit,,0.005,", "/v1/ai/*,per_unit,,0.01,"))
    tiers = (draft / "price_tiers.csv").read_text()
    assert "enterprise_calls,3,,0.03,25.00" in tiers
    (draft / "price_tiers.csv").write_text(
        tiers.replace("enterprise_calls,3,,0.03,25.00", "enterprise_calls,3,,0.02,25.00")
    )

    db = readers_warehouse.db_path
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(db))
    assert main(["simulate", "--catalog", str(draft), "--period", "2026-01"]) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before

    # January is final: acct_0006 billed 12,000 × 0.03 + 25.00 = 385.00; the draft's 0.02 gives
    # 12,000 × 0.02 + 25.00 = 265.00 (still above the 200.00 minimum) → −120.00.
    # acct_0001 billed 250 ai calls × 0.004 = 1.00 (total 58.00); at 0.01 → 2.50 (59.50) → +1.50.
    lines = out.splitlines()
    per_plan = lines[lines.index("Per plan (largest change first)") + 2 :]
    per_account = lines[lines.index("Per account (largest change first)") + 2 :]
    assert per_plan[0].split() == ["enterprise", "usd", "$385.00", "$265.00", "-$120.00"]
    assert per_plan[1].split() == ["pro", "usd", "$58.00", "$59.50", "+$1.50"]
    assert per_account[0].split() == ["acct_0006", "usd", "$385.00", "$265.00", "-$120.00"]
    assert per_account[1].split() == ["acct_0001", "usd", "$58.00", "$59.50", "+$1.50"]
    # Every other plan and account of January is unchanged, and listed with its current figure.
    january = readers_warehouse.query(
        "select account_id, total from marts.fct_invoices where period_start >= date '2026-01-01' "
        "and period_start < date '2026-02-01' and account_id not in ('acct_0001', 'acct_0006')"
    )
    for account, total in january:
        row = next(x.split() for x in per_account if x.split()[0] == account)
        assert row[2] == row[3] and row[4] in ("$0.00", "€0.00", "¥0"), row
        assert D(row[2].lstrip("$€¥").replace(",", "")) == total
    # USD total: −120.00 + 1.50 = −118.50.
    assert any(x.split()[0] == "usd" and x.split()[-1] == "-$118.50" for x in lines[lines.index("Total") :])
    # The warehouse still says what was billed.
    assert readers_warehouse.query(
        "select total from marts.fct_invoices where account_id = 'acct_0006' and period_start = date '2026-01-01'"
    ) == [(D("385.00"),)]
