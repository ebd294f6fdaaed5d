"""Read back what Stripe says about each pushed invoice: status, amounts due, paid and remaining, due date.

The read is the only source of payment facts: a webhook only triggers it (orchestration/stripe/webhooks.py),
its body is never trusted for amounts. Each read appends to `ledger.stripe_invoice_status` a row for every
invoice that is new or changed since the last read (so the table is the history of each invoice's status)
and one row to `ledger.stripe_status_reads` (when, how many read, changed, failed). Invoices whose last
status is final in Stripe's sense (`paid`, `void`) are not read again. Both tables are created by every
dbt run (macros/ledger.sql); marts.accounts_receivable and marts.account_entitlements read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import stripe

from orchestration.stripe.client import StripeApi, describe_error
from orchestration.stripe.ledger import connect, now

FINAL_STATUSES = ("paid", "void")
STATUS_COLUMNS = (
    "invoice_id",
    "account_id",
    "stripe_invoice_id",
    "currency",
    "stripe_status",
    "amount_due_minor",
    "amount_paid_minor",
    "amount_remaining_minor",
    "due_date",
    "finalized_at",
    "paid_at",
)


@dataclass
class StatusReadReport:
    read_at: datetime
    invoices_read: int = 0
    changed: list[tuple] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.by_status.items())) or "none"
        text = (
            f"payment status: {self.invoices_read} invoice(s) read from Stripe ({statuses}), "
            f"{len(self.changed)} new or changed"
        )
        if self.errors:
            text += f", {len(self.errors)} could not be read: " + "; ".join(
                f"{invoice}: {reason}" for invoice, reason in sorted(self.errors.items())
            )
        return text


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None) if value else None


def _due_date(value: Any) -> date | None:
    return datetime.fromtimestamp(int(value), UTC).date() if value else None


def status_row(invoice_id: str, account_id: str, stripe_invoice: Any) -> tuple:
    """The ledger row (without read_at) of one Stripe invoice, in STATUS_COLUMNS order."""
    transitions = getattr(stripe_invoice, "status_transitions", None)
    return (
        invoice_id,
        account_id,
        stripe_invoice.id,
        stripe_invoice.currency,
        stripe_invoice.status,
        int(stripe_invoice.amount_due),
        int(stripe_invoice.amount_paid),
        int(stripe_invoice.amount_remaining),
        _due_date(getattr(stripe_invoice, "due_date", None)),
        _timestamp(getattr(transitions, "finalized_at", None)),
        _timestamp(getattr(transitions, "paid_at", None)),
    )


def has_status_ledger(db_path: Path) -> bool:
    """The warehouse has the status tables (every dbt build creates them: macros/ledger.sql)."""
    if not db_path.exists():
        return False
    with connect(db_path, read_only=True) as con:
        return bool(
            con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'ledger' and table_name = 'stripe_invoice_status'"
            ).fetchone()[0]
        )


def _to_read(db_path: Path, stripe_invoice_ids: list[str] | None) -> tuple[list[tuple], dict[str, tuple]]:
    """Pushed invoices still worth reading (optionally only these Stripe ids), and each one's last row."""
    with connect(db_path, read_only=True) as con:
        pushed_exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ledger' and table_name = 'stripe_push_invoices'"
        ).fetchone()[0]
        if not pushed_exists:
            return [], {}
        pushed = con.execute(
            "select invoice_id, account_id, stripe_invoice_id from ledger.stripe_push_invoices "
            "where status = 'pushed' and stripe_invoice_id is not null order by invoice_id"
        ).fetchall()
        latest = {
            row[0]: row[:-1]
            for row in con.execute(
                f"select {', '.join(STATUS_COLUMNS)}, row_number() over ("
                "partition by invoice_id order by read_at desc) as recency "
                "from ledger.stripe_invoice_status qualify recency = 1"
            ).fetchall()
        }
    wanted = set(stripe_invoice_ids) if stripe_invoice_ids is not None else None
    rows = [
        row
        for row in pushed
        if (wanted is None or row[2] in wanted)
        and (row[0] not in latest or latest[row[0]][4] not in FINAL_STATUSES)
    ]
    return rows, latest


def read_payment_status(
    db_path: Path,
    api: StripeApi,
    *,
    stripe_invoice_ids: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> StatusReadReport:
    """Read the open pushed invoices (or only `stripe_invoice_ids`) from Stripe into the ledger."""
    report = StatusReadReport(read_at=now().replace(tzinfo=None))
    to_read, latest = _to_read(db_path, stripe_invoice_ids)
    for invoice_id, account_id, stripe_invoice_id in to_read:
        try:
            stripe_invoice = api.retrieve_invoice(stripe_invoice_id)
        except stripe.StripeError as e:
            report.errors[invoice_id] = api.redact(describe_error(e, None))
            continue
        row = status_row(invoice_id, account_id, stripe_invoice)
        report.invoices_read += 1
        report.by_status[row[4]] = report.by_status.get(row[4], 0) + 1
        if latest.get(invoice_id) != row:
            report.changed.append(row)
            if invoice_id in latest:
                log(f"{invoice_id} ({stripe_invoice_id}): {latest[invoice_id][4]} → {row[4]}")
    with connect(db_path) as con:
        con.execute("begin")
        if report.changed:
            con.executemany(
                f"insert into ledger.stripe_invoice_status ({', '.join(STATUS_COLUMNS)}, read_at) "
                f"values ({', '.join('?' for _ in STATUS_COLUMNS)}, ?)",
                [(*row, report.read_at) for row in report.changed],
            )
        con.execute(
            "insert into ledger.stripe_status_reads values (?, ?, ?, ?)",
            [report.read_at, report.invoices_read, len(report.changed), len(report.errors)],
        )
        con.execute("commit")
    return report
