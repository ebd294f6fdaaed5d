"""`usage-billing review`: February's open invoices beside January's (closed before pro_ai_calls went from
0.004 to 0.005), with the change split by cause; every figure worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

from conftest import Warehouse

from orchestration.cli import main
from orchestration.readers.review import review_period


def test_review_attributes_each_change(readers_warehouse: Warehouse, monkeypatch, capsys) -> None:
    reviews = {r.account_id: r for r in review_period(readers_warehouse.db_path, "2026-02")}
    got = {
        a: (r.previous_total, r.total, r.change, {k: v for k, v in r.parts.items() if v}, r.causes)
        for a, r in reviews.items()
    }
    # acct_0001: January (final) 49.00 + tokens 8.00 + ai 250 × 0.004 = 1.00 → 58.00. February: 49.00 +
    # tokens 6.50 + ai 250 × 0.005 = 1.25 + adjustment 0.25 − credit 8.00 → 49.00; change −9.00 =
    # price 250 × (0.005 − 0.004) = +0.25, usage (7.75 − 9.00) − 0.25 = −1.50, adjustment +0.25, credit −8.00.
    assert got["acct_0001"] == (
        D("58.00"),
        D("49.00"),
        D("-9.00"),
        {"price": D("0.25"), "usage": D("-1.50"), "adjustments": D("0.25"), "credits": D("-8.00")},
        ["credits", "usage", "price", "adjustments"],
    )
    # acct_0003: payg in January (10,000 calls over 50,000 × 0.001 = 10.00); payg then pro from Feb 10 in
    # February: 49.00 × 19/28 = 33.25 → +23.25, all of it the plan change.
    assert got["acct_0003"] == (
        D("10.00"),
        D("33.25"),
        D("23.25"),
        {"plan_change": D("23.25")},
        ["plan_change"],
    )
    # acct_0006 (enterprise, volume): 12,000 × 0.03 + 25 = 385.00 → 15,000 × 0.03 + 25 = 475.00 capped at
    # 400.00: usage +90.00, cap −75.00.
    assert got["acct_0006"] == (
        D("385.00"),
        D("400.00"),
        D("15.00"),
        {"usage": D("90.00"), "cap_minimum": D("-75.00")},
        ["usage", "cap_minimum"],
    )
    # acct_0007: first invoice (enterprise from Feb 5): 1,000 × 0.05 = 50.00 + minimum 150.00 = 200.00.
    assert got["acct_0007"] == (None, D("200.00"), D("200.00"), {}, ["new"])
    # acct_0011 (starter): 19.00 + 1.50 + 10.00 = 30.50 → base fee only 19.00: usage −11.50.
    assert got["acct_0011"] == (D("30.50"), D("19.00"), D("-11.50"), {"usage": D("-11.50")}, ["usage"])
    # acct_0010 (prepaid): January 20's 10.00 was paid by credit (total 0); nothing since: usage −10.00,
    # credits +10.00, total unchanged.
    assert got["acct_0010"] == (
        D("0.00"),
        D("0.00"),
        D("0.00"),
        {"usage": D("-10.00"), "credits": D("10.00")},
        ["usage", "credits"],
    )
    # Base-fee-only accounts do not change: free (0.00), payg from the 15th (0.00), JPY starter (¥1,000).
    for account in ("acct_0009", "acct_0002", "acct_0005"):
        assert got[account][2] == 0 and got[account][3] == {}, account
    # Every open invoice of periods starting in February is listed (as the mart has them), none final.
    open_invoices = readers_warehouse.query(
        "select account_id from marts.fct_invoices where status = 'open' "
        "and period_start >= date '2026-02-01' and period_start < date '2026-03-01' order by 1"
    )
    assert sorted(reviews) == [a for (a,) in open_invoices]

    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(readers_warehouse.db_path))
    assert main(["review", "--period", "2026-02"]) == 0
    out = capsys.readouterr().out
    assert (
        "acct_0001   2026-02-01         $58.00         $49.00         -$9.00  credits -$8.00, usage -$1.50, price +$0.25, adjustments +$0.25"
        in out
    )
    assert "plan change +$23.25 (payg → payg+pro)" in out
    assert "acct_0007   2026-02-05              —        $200.00       +$200.00  new invoice" in out
    # January is closed: nothing open to review.
    assert review_period(readers_warehouse.db_path, "2026-01") == []
