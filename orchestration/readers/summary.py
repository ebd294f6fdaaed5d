"""A readable summary of what a build produced, read from the warehouse."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.readers.observe import rejected_file_reasons


def _money(amount: Decimal, currency: str, minor_units: int) -> str:
    quantum = Decimal(1).scaleb(-minor_units)
    return f"{amount.quantize(quantum):,} {currency.upper()}"


def invoice_summary(db_path: Path, max_invoices: int = 40) -> str:
    """Accounts, periods, lines and totals per currency; events accounted for."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        minor = dict(con.execute("select currency, minor_units from catalog.currencies").fetchall())
        recon = con.execute(
            """select count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_valid), 0),
                      coalesce(sum(rows_duplicate), 0), coalesce(sum(rows_conflict), 0),
                      coalesce(sum(rows_quarantined), 0)
               from marts.event_reconciliation"""
        ).fetchone()
        invoices = con.execute(
            """select account_id, period_start, period_end, currency, line_count, subtotal, total, status
               from marts.fct_invoices order by account_id, period_start"""
        ).fetchall()
        totals = con.execute(
            """select currency, count(*), sum(line_count), sum(total)
               from marts.fct_invoices group by currency order by currency"""
        ).fetchall()
        unbilled = con.execute(
            """select reason, sum(event_count), sum(units) from marts.unbilled_usage
               group by reason order by reason"""
        ).fetchall()
        quarantine = con.execute(
            "select reason, count(*) from marts.events_quarantined group by reason order by 2 desc, 1"
        ).fetchall()
    finally:
        con.close()

    rejected = rejected_file_reasons(db_path)
    files, read, valid, dup, conflict, quarantined = recon
    out = [
        "Events",
        f"  {files} file(s), {read:,} rows read = {valid:,} valid + {dup:,} duplicates "
        f"({conflict:,} conflicting) + {quarantined:,} quarantined",
    ]
    if quarantine:
        out.append("  quarantined: " + ", ".join(f"{r} {n:,}" for r, n in quarantine))
    if rejected:
        out.append(
            "  files not loaded (marts.event_files_rejected): " + ", ".join(f"{r} {n:,}" for r, n in rejected)
        )
    if unbilled:
        out.append("  unbilled usage: " + ", ".join(f"{r} {int(n):,} events" for r, n, _ in unbilled))
    out.append("")
    out.append(f"Invoices ({len(invoices)})")
    out.append(f"  {'account':<14} {'period':<25} {'lines':>5} {'total':>18}  status")
    for account, start, end, currency, lines, _subtotal, total, status in invoices[:max_invoices]:
        period = f"{start} – {end}"
        money = _money(total, currency, minor.get(currency, 2))
        out.append(f"  {account:<14} {period:<25} {lines:>5} {money:>18}  {status}")
    if len(invoices) > max_invoices:
        out.append(f"  … and {len(invoices) - max_invoices} more")
    out.append("")
    out.append("Totals")
    for currency, count, lines, total in totals:
        money = _money(total, currency, minor.get(currency, 2))
        out.append(f"  {currency.upper()}: {count} invoice(s), {int(lines or 0)} line(s), {money}")
    return "\n".join(out)


def stripe_summary(db_path: Path) -> str:
    """What Stripe holds, as read back after the last push of each month (marts.stripe_reconciliation),
    beside the warehouse's totals."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'stripe_reconciliation'"
        ).fetchone()[0]
        if not exists:
            return "Stripe: nothing pushed yet (usage-billing push --period YYYY-MM)."
        rows = con.execute(
            """select account_id, period_start, currency, warehouse_total, stripe_total, stripe_invoice_id, status
               from marts.stripe_reconciliation order by account_id, period_start"""
        ).fetchall()
    finally:
        con.close()
    lines = [
        "Stripe, read back after the push (marts.stripe_reconciliation):",
        f"  {'account':<14} {'period':<10} {'cur':<4} {'warehouse':>12} {'stripe':>12}  {'stripe invoice':<28} status",
    ]
    counts: dict[str, int] = {}
    for account, period, currency, ours, theirs, stripe_id, status in rows:
        counts[status] = counts.get(status, 0) + 1
        lines.append(
            f"  {account:<14} {period!s:<10} {currency:<4} {_num(ours):>12} {_num(theirs):>12}  "
            f"{stripe_id or '-':<28} {status}"
        )
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:,}"
