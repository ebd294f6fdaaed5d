"""`usage-billing review --period YYYY-MM`: open invoices beside the account's previous invoice, with the
change split by cause so that finance can approve the close.

The change (total now − total before) is split exactly, in the currency's minor units, into:
- plan_change: when the plans on the two invoices differ, the whole change of base fees, usage, cap and
  minimum (they cannot be compared price by price);
- base_fee: base fees (proration);
- price: for usage lines of the same price and tier on both invoices, the current quantity times the
  change of unit price (a catalog change after the previous period closed);
- usage: the rest of the usage lines' change (more or less usage);
- cap_minimum: the spend cap and minimum lines (P10);
- adjustments: late usage of closed periods (P14);
- credits: prepaid credit lines (P11).
The parts add up to the change exactly: usage is what is left of the usage change once price is taken out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from orchestration.money import money, round_money
from orchestration.readers.statements import month_bounds

LABELS = {
    "plan_change": "plan change",
    "base_fee": "base fee",
    "price": "price",
    "usage": "usage",
    "cap_minimum": "cap/minimum",
    "adjustments": "adjustments",
    "credits": "credits",
}
CAUSES = ("plan_change", "base_fee", "price", "usage", "cap_minimum", "adjustments", "credits")


@dataclass
class Review:
    invoice_id: str
    account_id: str
    period_start: Any
    currency: str
    minor_units: int
    total: Decimal
    previous_invoice_id: str | None
    previous_period_start: Any
    previous_total: Decimal | None
    plans: list[str]
    previous_plans: list[str]
    parts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def change(self) -> Decimal:
        return self.total - (self.previous_total or Decimal(0))

    @property
    def causes(self) -> list[str]:
        """Non-zero parts, largest first ('new' for a first invoice)."""
        if self.previous_invoice_id is None:
            return ["new"]
        return [
            c for c, v in sorted(self.parts.items(), key=lambda kv: (-abs(kv[1]), CAUSES.index(kv[0]))) if v
        ]


def _rows(con, sql: str, params: list) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _sum(lines: list[dict[str, Any]], *types: str) -> Decimal:
    return sum((x["amount"] for x in lines if x["line_type"] in types), Decimal(0))


def _attribute(now: list[dict], before: list[dict], minor_units: int) -> dict[str, Decimal]:
    parts = dict.fromkeys(CAUSES, Decimal(0))
    plans_now = {x["plan_id"] for x in now if x["line_type"] == "base_fee"}
    plans_before = {x["plan_id"] for x in before if x["line_type"] == "base_fee"}
    base = _sum(now, "base_fee") - _sum(before, "base_fee")
    usage = _sum(now, "usage") - _sum(before, "usage")
    cap_min = _sum(now, "cap", "minimum") - _sum(before, "cap", "minimum")
    parts["adjustments"] = _sum(now, "adjustment") - _sum(before, "adjustment")
    parts["credits"] = _sum(now, "credit") - _sum(before, "credit")
    if plans_now != plans_before:
        parts["plan_change"] = base + usage + cap_min
        return parts
    earlier = {(x["price_id"], x["tier"]): x for x in before if x["line_type"] == "usage"}
    price = Decimal(0)
    for x in now:
        old = earlier.get((x["price_id"], x["tier"])) if x["line_type"] == "usage" else None
        if old is not None and old["unit_amount"] != x["unit_amount"]:
            price += round_money(x["quantity"] * (x["unit_amount"] - old["unit_amount"]), minor_units)
    parts.update(base_fee=base, price=price, usage=usage - price, cap_minimum=cap_min)
    return parts


def review_period(db_path: Path, period: str, include_final: bool = False) -> list[Review]:
    first, after = month_bounds(period)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        invoices = _rows(
            con,
            """select invoices.*, currencies.minor_units,
                      (select max(earlier.period_start) from marts.fct_invoices as earlier
                       where earlier.account_id = invoices.account_id
                         and earlier.period_start < invoices.period_start) as previous_period_start
               from marts.fct_invoices as invoices
               inner join catalog.currencies as currencies on invoices.currency = currencies.currency
               where invoices.period_start >= ? and invoices.period_start < ? and (? or invoices.status = 'open')
               order by invoices.account_id, invoices.period_start""",
            [first, after, include_final],
        )
        out = []
        for inv in invoices:
            previous = _rows(
                con,
                "select * from marts.fct_invoices where account_id = ? and period_start = ?",
                [inv["account_id"], inv["previous_period_start"]],
            )
            prev = previous[0] if previous else None
            lines = "select * from marts.fct_invoice_lines where invoice_id = ?"
            now = _rows(con, lines, [inv["invoice_id"]])
            before = _rows(con, lines, [prev["invoice_id"]]) if prev else []
            r = Review(
                invoice_id=inv["invoice_id"],
                account_id=inv["account_id"],
                period_start=inv["period_start"],
                currency=inv["currency"],
                minor_units=inv["minor_units"],
                total=inv["total"],
                previous_invoice_id=prev["invoice_id"] if prev else None,
                previous_period_start=prev["period_start"] if prev else None,
                previous_total=prev["total"] if prev else None,
                plans=sorted({x["plan_id"] for x in now if x["line_type"] == "base_fee"}),
                previous_plans=sorted({x["plan_id"] for x in before if x["line_type"] == "base_fee"}),
            )
            if prev is not None:
                r.parts = _attribute(now, before, inv["minor_units"])
                assert sum(r.parts.values()) == r.change, (r.invoice_id, r.parts, r.change)
            out.append(r)
        return out
    finally:
        con.close()


def render_text(reviews: list[Review], period: str) -> str:
    out = [
        f"Open invoices of periods starting in {period} ({len(reviews)}), beside each account's previous invoice"
    ]
    out.append(f"  {'account':<11} {'period':<10} {'previous':>14} {'now':>14} {'change':>14}  cause")
    for r in sorted(reviews, key=lambda r: (r.currency, -abs(r.change), r.account_id)):
        cur, mu = r.currency, r.minor_units
        before = money(r.previous_total, cur, mu) if r.previous_total is not None else "—"
        causes = ", ".join(
            "new invoice" if c == "new" else f"{LABELS[c]} {money(r.parts[c], cur, mu, signed=True)}"
            for c in r.causes
        )
        if "plan_change" in r.causes:
            causes += f" ({'+'.join(r.previous_plans)} → {'+'.join(r.plans)})"
        out.append(
            f"  {r.account_id:<11} {r.period_start!s:<10} {before:>14} {money(r.total, cur, mu):>14} "
            f"{money(r.change, cur, mu, signed=True):>14}  {causes or 'no change'}"
        )
    return "\n".join(out)
