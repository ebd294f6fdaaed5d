"""`usage-billing receivables` and `usage-billing entitlements`: the two marts of the closed loop, printed."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from orchestration.stripe.ledger import connect

BUCKETS = ("0-30", "31-60", "61-90", "90+")


def _amount(value: Decimal | None, minor_units: int) -> str:
    if value is None:
        return "-"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP):,}"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Columns as wide as their widest cell, two spaces apart; numbers (`right`) aligned right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{cell:>{w}}" if i in right else f"{cell:<{w}}"
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers)] + [line([str(c) for c in row]) for row in rows]


def _minor_units(con) -> dict[str, int]:
    return {
        c: int(m) for c, m in con.execute("select currency, minor_units from catalog.currencies").fetchall()
    }


def render_receivables(db_path: Path) -> str:
    """Outstanding amounts per currency and aging bucket, then each outstanding invoice."""
    with connect(db_path, read_only=True) as con:
        minor = _minor_units(con)
        rows = con.execute(
            """select invoice_id, account_id, period_start, currency, stripe_invoice_id, stripe_status,
                      amount_due, amount_paid, amount_remaining, due_date, days_overdue, aging_bucket,
                      is_outstanding, aged_on, status_read_at
               from marts.accounts_receivable
               order by is_outstanding desc, days_overdue desc nulls last, account_id, period_start"""
        ).fetchall()
    if not rows:
        return "Accounts receivable: no payment status read yet (push, then `usage-billing payment-status`)."
    aged_on = rows[0][13]
    read_at = max(r[14] for r in rows)
    outstanding = [r for r in rows if r[12]]
    out = [
        f"Accounts receivable, aged on {aged_on} (statuses read from Stripe up to {read_at:%Y-%m-%d %H:%M} UTC)",
        f"{len(rows)} pushed invoice(s): {len(outstanding)} outstanding, "
        + ", ".join(
            f"{n} {s}" for s, n in sorted({r[5]: sum(1 for x in rows if x[5] == r[5]) for r in rows}.items())
        ),
    ]
    totals = []
    for currency in sorted({r[3] for r in outstanding}):
        units = minor.get(currency, 2)
        mine = [r for r in outstanding if r[3] == currency]
        cells = [sum((r[8] for r in mine if r[11] == b), Decimal(0)) for b in BUCKETS]
        totals.append(
            [currency.upper(), *(_amount(c, units) for c in cells), _amount(sum(cells, Decimal(0)), units)]
        )
    if totals:
        out += ["", *_table(["currency", *BUCKETS, "outstanding"], totals, right={1, 2, 3, 4, 5})]
    if outstanding:
        invoices = [
            [
                r[0],
                r[1],
                r[2],
                r[5],
                r[9],
                f"{_amount(r[8], minor.get(r[3], 2))} {r[3].upper()}",
                r[10],
                r[11],
            ]
            for r in outstanding
        ]
        headers = ["invoice", "account", "period", "status", "due", "remaining", "days overdue", "bucket"]
        out += ["", *_table(headers, invoices, right={5, 6})]
    return "\n".join(out)


def render_entitlements(db_path: Path, *, show_all: bool = False) -> str:
    """Who is blocked and why (every account with show_all), as marts.account_entitlements has it."""
    with connect(db_path, read_only=True) as con:
        minor = _minor_units(con)
        rows = con.execute(
            """select account_id, access, block_reasons, plan_id, period_start, period_end, currency, spend,
                      spend_cap, credit_balance, overdue_amount, max_days_overdue, as_of_at, payments_read_at
               from marts.account_entitlements order by access desc, account_id"""
        ).fetchall()
    if not rows:
        return "Entitlements: no account in the catalog, or no event yet."
    blocked = [r for r in rows if r[1] == "block"]
    reasons: dict[str, int] = {}
    for r in blocked:
        for reason in r[2].split(","):
            reasons[reason] = reasons.get(reason, 0) + 1
    read = f"{rows[0][13]:%Y-%m-%d %H:%M} UTC" if rows[0][13] else "never"
    out = [
        f"Entitlements as of {rows[0][12]:%Y-%m-%d %H:%M:%S} UTC (payment statuses read: {read})",
        f"{len(rows)} account(s): {len(blocked)} blocked"
        + (
            " (" + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items())) + ")"
            if reasons
            else ""
        ),
    ]
    shown = rows if show_all else blocked
    if shown:
        table = [
            [
                r[0],
                r[1],
                r[3] or "-",
                f"{r[4]} – {r[5]}",
                _amount(r[7], minor.get(r[6], 2)),
                _amount(r[8], minor.get(r[6], 2)),
                _amount(r[9], minor.get(r[6], 2)),
                _amount(r[10], minor.get(r[6], 2)),
                r[11],
                r[2] or "-",
            ]
            for r in shown
        ]
        headers = ["account", "access", "plan", "period", "spend", "cap", "credit left", "overdue", "days"]
        out += ["", *_table([*headers, "reasons"], table, right={4, 5, 6, 7, 8})]
    return "\n".join(out)
