"""What the push reads from the warehouse and what it records there (schema `ledger`, never dbt's).

Every function opens the DuckDB file for one short spell and closes it: between spells dbt (or a
reader) can take the file's lock. Values reach SQL only as bound parameters.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

LEDGER_DDL = (
    "create schema if not exists ledger",
    """create table if not exists ledger.stripe_customers (
        account_id varchar primary key,
        stripe_customer_id varchar not null,
        created_at timestamptz not null
    )""",
    """create table if not exists ledger.stripe_push_lines (
        invoice_line_id varchar primary key,
        invoice_id varchar not null,
        account_id varchar not null,
        stripe_customer_id varchar not null,
        stripe_invoice_item_id varchar not null,
        stripe_invoice_id varchar,
        amount_minor bigint not null,
        currency varchar not null,
        pushed_at timestamptz not null,
        status varchar not null  -- item_created | invoiced | finalized
    )""",
    """create table if not exists ledger.stripe_push_invoices (
        invoice_id varchar primary key,
        account_id varchar,
        period_start date,
        stripe_customer_id varchar,
        stripe_invoice_id varchar,
        status varchar not null,  -- pushed | failed | skipped
        reason varchar,
        total_minor bigint,
        updated_at timestamptz not null
    )""",
)

RECONCILIATION_DDL = (
    "create schema if not exists marts",
    """create table if not exists marts.stripe_reconciliation (
        invoice_id varchar not null,
        account_id varchar not null,
        period_start date not null,
        currency varchar not null,
        warehouse_total decimal(38, 4) not null,
        stripe_total decimal(38, 4),
        stripe_invoice_id varchar,
        status varchar not null,  -- match | mismatch | missing_in_stripe | skipped | failed
        stripe_status varchar,
        reason varchar,
        reconciled_at timestamptz not null
    )""",
)


@dataclass(frozen=True)
class Line:
    invoice_line_id: str
    line_type: str
    description: str
    quantity: Decimal | None
    unit_amount: Decimal | None
    amount: Decimal
    amount_minor: int


@dataclass(frozen=True)
class WarehouseInvoice:
    invoice_id: str
    account_id: str
    account_name: str
    period_start: date
    period_end: date
    currency: str
    minor_units: int
    total: Decimal
    total_minor: int
    is_test: bool
    catalog_customer_id: str | None
    lines: tuple[Line, ...]


def now() -> datetime:
    return datetime.now(UTC)


def month_range(period: str) -> tuple[date, date]:
    """`YYYY-MM` → [first day, first day of the next month)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", period or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    year, month = int(match.group(1)), int(match.group(2))
    start = date(year, month, 1)
    days = calendar.monthrange(year, month)[1]
    end = date(year + (month == 12), month % 12 + 1, 1)
    assert (end - start).days == days
    return start, end


def to_minor(amount: Decimal, minor_units: int) -> int:
    """An exact integer amount in minor units (cents, yen); never through a float."""
    scaled = Decimal(amount).scaleb(minor_units)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {minor_units} fraction digit(s)")
    return int(scaled)


def from_minor(amount_minor: int, minor_units: int) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_units)


@contextmanager
def connect(db_path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(db_path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def read_final_invoices(db_path: Path, period: str) -> list[WarehouseInvoice]:
    """Final invoices whose period starts in `period`, with their lines, account and currency."""
    start, end = month_range(period)
    with connect(db_path, read_only=True) as con:
        invoices = con.execute(
            """
            select i.invoice_id, i.account_id, coalesce(a.account_name, i.account_id), i.period_start,
                   i.period_end, i.currency, c.minor_units, i.total, coalesce(a.is_test, false),
                   nullif(trim(a.stripe_customer_id), '')
            from marts.fct_invoices as i
            left join catalog.accounts as a on a.account_id = i.account_id
            left join catalog.currencies as c on c.currency = i.currency
            where i.status = 'final' and i.period_start >= ? and i.period_start < ?
            order by i.account_id, i.period_start, i.invoice_id
            """,
            [start, end],
        ).fetchall()
        lines = con.execute(
            """
            select l.invoice_id, l.invoice_line_id, l.line_type, l.description, l.quantity, l.unit_amount,
                   l.amount
            from marts.fct_invoice_lines as l
            join marts.fct_invoices as i on i.invoice_id = l.invoice_id
            where i.status = 'final' and i.period_start >= ? and i.period_start < ?
            order by l.invoice_id, l.invoice_line_id
            """,
            [start, end],
        ).fetchall()
    by_invoice: dict[str, list[tuple]] = {}
    for row in lines:
        by_invoice.setdefault(row[0], []).append(row)
    result = []
    for invoice_id, account_id, name, p_start, p_end, currency, minor_units, total, is_test, cus in invoices:
        if minor_units is None:
            raise ValueError(f"currency {currency!r} of invoice {invoice_id} is not in catalog.currencies")
        result.append(
            WarehouseInvoice(
                invoice_id=invoice_id,
                account_id=account_id,
                account_name=name,
                period_start=p_start,
                period_end=p_end,
                currency=currency.lower(),
                minor_units=int(minor_units),
                total=Decimal(total),
                total_minor=to_minor(total, int(minor_units)),
                is_test=bool(is_test),
                catalog_customer_id=cus,
                lines=tuple(
                    Line(
                        invoice_line_id=line_id,
                        line_type=line_type,
                        description=description or line_type,
                        quantity=quantity,
                        unit_amount=unit_amount,
                        amount=Decimal(amount),
                        amount_minor=to_minor(amount, int(minor_units)),
                    )
                    for _, line_id, line_type, description, quantity, unit_amount, amount in by_invoice.get(
                        invoice_id, []
                    )
                ),
            )
        )
    return result


class Ledger:
    """The push ledger in the warehouse file: created on first use, each write a short spell."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.db_path) as con:
            if not self._ready:
                for statement in LEDGER_DDL:
                    con.execute(statement)
                self._ready = True
            yield con

    def _read(self, table: str, sql: str) -> list[tuple]:
        """Rows of a ledger table, read only; none if the file or the table does not exist yet."""
        if not self.db_path.exists():
            return []
        with connect(self.db_path, read_only=True) as con:
            exists = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'ledger' and table_name = ?",
                [table],
            ).fetchone()[0]
            return con.execute(sql).fetchall() if exists else []

    def customers(self) -> dict[str, str]:
        """account_id → stripe_customer_id, for customers the push created."""
        return dict(
            self._read(
                "stripe_customers", "select account_id, stripe_customer_id from ledger.stripe_customers"
            )
        )

    def invoice_statuses(self) -> dict[str, tuple[str, str | None]]:
        """invoice_id → (status, stripe_invoice_id)."""
        rows = self._read(
            "stripe_push_invoices",
            "select invoice_id, status, stripe_invoice_id from ledger.stripe_push_invoices",
        )
        return {invoice_id: (status, stripe_id) for invoice_id, status, stripe_id in rows}

    def record_customer(self, account_id: str, stripe_customer_id: str) -> None:
        with self._connect() as con:
            con.execute(
                "insert or replace into ledger.stripe_customers values (?, ?, ?)",
                [account_id, stripe_customer_id, now()],
            )

    def record_lines(self, rows: Iterable[tuple]) -> None:
        """rows: (invoice_line_id, invoice_id, account_id, stripe_customer_id, stripe_invoice_item_id,
        stripe_invoice_id, amount_minor, currency, status)."""
        rows = [(*row[:8], now(), row[8]) for row in rows]
        if not rows:
            return
        with self._connect() as con:
            con.executemany(
                """insert or replace into ledger.stripe_push_lines
                   (invoice_line_id, invoice_id, account_id, stripe_customer_id, stripe_invoice_item_id,
                    stripe_invoice_id, amount_minor, currency, pushed_at, status)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )

    def record_invoice(
        self,
        invoice: WarehouseInvoice,
        *,
        status: str,
        reason: str | None = None,
        stripe_customer_id: str | None = None,
        stripe_invoice_id: str | None = None,
    ) -> None:
        with self._connect() as con:
            con.execute(
                """insert or replace into ledger.stripe_push_invoices
                   (invoice_id, account_id, period_start, stripe_customer_id, stripe_invoice_id, status,
                    reason, total_minor, updated_at)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    invoice.invoice_id,
                    invoice.account_id,
                    invoice.period_start,
                    stripe_customer_id,
                    stripe_invoice_id,
                    status,
                    reason,
                    invoice.total_minor,
                    now(),
                ],
            )


def write_reconciliation(db_path: Path, period: str, rows: list[tuple]) -> None:
    """Replace the period's rows of marts.stripe_reconciliation (the table is ours, not dbt's).

    rows: (invoice_id, account_id, period_start, currency, warehouse_total, stripe_total,
    stripe_invoice_id, status, stripe_status, reason)."""
    start, end = month_range(period)
    stamp = now()
    with connect(db_path) as con:
        for statement in RECONCILIATION_DDL:
            con.execute(statement)
        con.execute("begin")
        con.execute(
            "delete from marts.stripe_reconciliation where period_start >= ? and period_start < ?",
            [start, end],
        )
        if rows:
            con.executemany(
                "insert into marts.stripe_reconciliation values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, stamp) for row in rows],
            )
        con.execute("commit")
