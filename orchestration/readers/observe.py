"""What operators see in Dagster: figures read from the warehouse for materialization metadata and asset
checks. Every amount stays a Decimal; a read-only connection is opened only for the moment of the query."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import duckdb


def _query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def minor_units(db_path: Path) -> dict[str, int]:
    return dict(_query(db_path, "select currency, minor_units from catalog.currencies"))


def money(amount: Decimal, currency: str, minor: int) -> str:
    """`1234.5000 usd` with 2 minor units → `1,234.50 USD` (exact: the amounts are already rounded)."""
    return f"{amount.quantize(Decimal(1).scaleb(-minor)):,} {currency.upper()}"


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]], right: Iterable[int] = ()) -> str:
    header = list(header)
    right = set(right)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(out)


def final_totals(db_path: Path, months: list[str]) -> list[tuple[str, int, str]]:
    """(currency, final invoices, total) of the closed invoices whose period starts in the months."""
    minor = minor_units(db_path)
    rows = _query(
        db_path,
        """select currency, count(*), sum(total) from ledger.final_invoices
           where strftime(period_start, '%Y-%m') in (select unnest(?))
           group by currency order by currency""",
        [months],
    )
    return [(c, n, money(t, c, minor.get(c, 2))) for c, n, t in rows]


def revenue_per_currency(db_path: Path) -> dict[str, str]:
    """Sum of invoice totals per currency over all invoices in marts.fct_invoices, open and final."""
    minor = minor_units(db_path)
    rows = _query(db_path, "select currency, sum(total) from marts.fct_invoices group by 1 order by 1")
    return {c.upper(): money(t, c, minor.get(c, 2)) for c, t in rows}


def top_invoices_md(db_path: Path, limit: int = 10) -> str:
    """The largest invoices of each currency by total (no exchange rates are kept, so currencies are not
    ranked against each other), largest first within a currency."""
    minor = minor_units(db_path)
    rows = _query(
        db_path,
        """select invoice_id, account_id, period_start, line_count, total, currency, status
           from marts.fct_invoices
           qualify row_number() over (partition by currency order by total desc, invoice_id) <= ?
           order by currency, total desc, invoice_id""",
        [limit],
    )
    return md_table(
        ["invoice", "account", "period start", "lines", "total", "status"],
        [(i, a, p, n, money(t, c, minor.get(c, 2)), s) for i, a, p, n, t, c, s in rows],
        right=(3, 4),
    )


def quarantine_reasons(db_path: Path) -> list[tuple[str, int]]:
    return _query(
        db_path, "select reason, count(*) from marts.events_quarantined group by 1 order by 2 desc, 1"
    )


def rejected_file_reasons(db_path: Path) -> list[tuple[str, int]]:
    """(reason, files) of marts.event_files_rejected: damaged files' reasons first, then unsupported."""
    return _query(
        db_path,
        """select reason, count(*) from marts.event_files_rejected
           group by reason order by not bool_or(is_damaged), 2 desc, 1""",
    )


def reconciliation_totals(db_path: Path) -> tuple[int, int, int, int, int, int]:
    """(files, rows read, valid, duplicates, conflicts, quarantined) over marts.event_reconciliation."""
    (row,) = _query(
        db_path,
        """select count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_valid), 0),
                  coalesce(sum(rows_duplicate), 0), coalesce(sum(rows_conflict), 0),
                  coalesce(sum(rows_quarantined), 0)
           from marts.event_reconciliation""",
    )
    return tuple(int(v) for v in row)


def unbilled_by_reason(db_path: Path) -> list[tuple[str, int, Decimal]]:
    """(reason, events, units) of marts.unbilled_usage, largest first."""
    return _query(
        db_path,
        """select reason, sum(event_count)::bigint, sum(units) from marts.unbilled_usage
           group by 1 order by 2 desc, 1""",
    )
