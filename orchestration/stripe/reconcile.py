"""Read the pushed invoices back from Stripe and compare them with the warehouse, per invoice.

Writes the month's rows of `marts.stripe_reconciliation`; status is `match`, `mismatch` (total,
currency, still a draft, or more than one Stripe invoice), `missing_in_stripe`, `skipped` (test
account, zero total) or `failed` (the push failed, or Stripe could not be read).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import stripe

from orchestration.stripe.client import StripeApi, describe_error
from orchestration.stripe.ledger import from_minor, write_reconciliation
from orchestration.stripe.push import PushReport, _metadata

PROBLEM_STATUSES = ("mismatch", "missing_in_stripe")


@dataclass(frozen=True)
class ReconciliationRow:
    invoice_id: str
    account_id: str
    period_start: Any
    currency: str
    warehouse_total: Decimal
    stripe_total: Decimal | None
    stripe_invoice_id: str | None
    status: str
    stripe_status: str | None
    reason: str | None

    def as_tuple(self) -> tuple:
        return (
            self.invoice_id,
            self.account_id,
            self.period_start,
            self.currency,
            self.warehouse_total,
            self.stripe_total,
            self.stripe_invoice_id,
            self.status,
            self.stripe_status,
            self.reason,
        )


def reconcile(db_path: Path, report: PushReport, api: StripeApi) -> list[ReconciliationRow]:
    """One row per final invoice of the report's month; written to marts.stripe_reconciliation."""
    listed: dict[str, list[Any] | str] = {}

    def stripe_invoices(customer: str) -> list[Any] | str:
        if customer not in listed:
            try:
                listed[customer] = api.list_invoices(customer)
            except stripe.StripeError as e:
                listed[customer] = api.redact(describe_error(e, None))
        return listed[customer]

    rows = []
    for outcome in report.outcomes:
        invoice = outcome.invoice
        base = dict(
            invoice_id=invoice.invoice_id,
            account_id=invoice.account_id,
            period_start=invoice.period_start,
            currency=invoice.currency,
            warehouse_total=invoice.total,
        )
        if outcome.status == "skipped":
            rows.append(
                ReconciliationRow(
                    **base,
                    stripe_total=None,
                    stripe_invoice_id=None,
                    status="skipped",
                    stripe_status=None,
                    reason=outcome.reason,
                )
            )
            continue
        found: list[Any] = []
        read_error = None
        if outcome.stripe_customer_id:
            listing = stripe_invoices(outcome.stripe_customer_id)
            if isinstance(listing, str):
                read_error = f"could not read Stripe: {listing}"
            else:
                found = [s for s in listing if _metadata(s).get("invoice_id") == invoice.invoice_id]
        one = found[0] if len(found) == 1 else None
        stripe_total = from_minor(one.total, invoice.minor_units) if one is not None else None
        stripe_id = one.id if one is not None else (outcome.stripe_invoice_id or None)
        stripe_status = one.status if one is not None else None
        if outcome.status == "failed" or read_error:
            status, reason = "failed", outcome.reason or read_error
        elif not found:
            status, reason = "missing_in_stripe", "no Stripe invoice carries this invoice_id"
        elif len(found) > 1:
            status, reason = "mismatch", f"{len(found)} Stripe invoices: {', '.join(s.id for s in found)}"
        elif one.currency.lower() != invoice.currency or stripe_total != invoice.total:
            status, reason = "mismatch", f"Stripe {stripe_total} {one.currency}, warehouse {invoice.total}"
        elif one.status == "draft":
            status, reason = "mismatch", "still a draft in Stripe"
        else:
            status, reason = "match", None
        rows.append(
            ReconciliationRow(
                **base,
                stripe_total=stripe_total,
                stripe_invoice_id=stripe_id,
                status=status,
                stripe_status=stripe_status,
                reason=reason,
            )
        )
    write_reconciliation(db_path, report.period, [row.as_tuple() for row in rows])
    return rows
