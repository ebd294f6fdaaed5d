"""Push a month's final invoices to Stripe, exactly once, however often the push is run or interrupted.

Per final invoice whose period starts in the month (test accounts and zero totals are skipped):

1. The Stripe customer: catalog `stripe_customer_id`, else `ledger.stripe_customers`, else a new
   customer (metadata `account_id`), recorded at once.
2. What Stripe already holds decides what is sent, not the ledger and not idempotency keys (Stripe
   forgets a key after 24 hours): the customer's invoices are listed and matched on
   `metadata.invoice_id`. One found and finalized: nothing to send. One found as a draft: its items
   are checked and it is finalized. None found: the customer's pending invoice items are listed and
   matched on `metadata.invoice_line_id`; only the lines not found are created.
3. One invoice item per line with a non-zero amount (exact integer minor units), then an invoice with
   `pending_invoice_items_behavior=include` and `metadata.invoice_id`, whose total must equal the
   warehouse total before it is finalized.

Every create carries an idempotency key made of our ids, so a retry of a request whose answer was
lost is answered from Stripe's memory (within 24 hours); after that the listing in step 2 finds it.
Whatever Stripe holds that the push cannot explain (two invoices for one of ours, an item twice,
another invoice's pending items that a new invoice would sweep in, a total that differs) fails that
invoice with the reason and sends nothing more for it. A Stripe error fails only its invoice; the run
goes on with the others and reports failure at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import stripe

from orchestration.stripe.client import StripeApi, StripeSetupError, describe_error
from orchestration.stripe.ledger import Ledger, Line, WarehouseInvoice, from_minor, read_final_invoices

KEY_PREFIX = "usage-billing"


def idempotency_key(kind: str, our_id: str) -> str:
    """Deterministic per object we create, so that a retried or resumed request reuses it."""
    return f"{KEY_PREFIX}:{kind}:{our_id}"


class PushConflict(Exception):
    """Stripe holds something for this invoice that the push cannot explain; a person must look."""


@dataclass
class InvoiceOutcome:
    invoice: WarehouseInvoice
    status: str  # pushed | failed | skipped | planned
    reason: str | None = None
    stripe_customer_id: str | None = None
    stripe_invoice_id: str | None = None
    items_created: int = 0
    items_found: int = 0


@dataclass
class PushReport:
    period: str
    dry_run: bool
    outcomes: list[InvoiceOutcome] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    requests: int = 0

    def with_status(self, status: str) -> list[InvoiceOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[InvoiceOutcome]:
        return self.with_status("failed")

    def pushed_amounts(self) -> dict[str, Decimal]:
        """currency → amount pushed, in major units with the currency's minor digits."""
        minor: dict[str, tuple[int, int]] = {}
        for o in self.with_status("pushed"):
            total, _ = minor.get(o.invoice.currency, (0, o.invoice.minor_units))
            minor[o.invoice.currency] = (total + o.invoice.total_minor, o.invoice.minor_units)
        return {currency: from_minor(total, units) for currency, (total, units) in minor.items()}

    def summary(self, *, every_invoice: bool = True) -> str:
        """What the push did: counts, amounts per currency, and a row per invoice (with every_invoice
        False, only the invoices that failed or were planned in a dry run)."""
        head = f"Stripe push {self.period}" + (" (dry run: nothing sent)" if self.dry_run else "")
        counts = ", ".join(
            f"{len(self.with_status(s))} {s}"
            for s in ("planned", "pushed", "skipped", "failed")
            if self.with_status(s) or s != "planned"
        )
        lines = [f"{head}: {len(self.outcomes)} final invoice(s): {counts}"]
        for currency, pushed in sorted(self.pushed_amounts().items()):
            lines.append(f"  pushed {pushed:,} {currency.upper()}")
        for o in self.outcomes:
            if not every_invoice and o.status in ("pushed", "skipped"):
                continue
            ids = " ".join(x for x in (o.stripe_customer_id, o.stripe_invoice_id) if x)
            detail = o.reason or (
                f"{o.items_created} item(s) created, {o.items_found} found" if o.status == "pushed" else ""
            )
            lines.append(
                f"  {o.invoice.invoice_id}  {o.invoice.account_id}  {o.invoice.period_start}  "
                f"{amount(o.invoice)} {o.invoice.currency.upper()}  {o.status}  {ids}  {detail}".rstrip()
            )
        if self.plan:
            lines.append("Would send:")
            lines.extend(f"  {line}" for line in self.plan)
        return "\n".join(lines)


def amount(invoice: WarehouseInvoice) -> str:
    """The invoice total with its currency's minor digits: 98.50 (USD), 2,500 (JPY)."""
    return f"{from_minor(invoice.total_minor, invoice.minor_units):,}"


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


def _metadata(obj: Any) -> dict[str, str]:
    meta = getattr(obj, "metadata", None)
    if meta is None:
        return {}
    return meta.to_dict() if hasattr(meta, "to_dict") else dict(meta)


def line_description(invoice: WarehouseInvoice, line: Line) -> str:
    """The warehouse description with quantity and unit price, e.g. `API calls — 70000 × 0.001 USD`."""
    text = line.description
    if line.quantity is not None and line.unit_amount is not None:
        text += f" — {_plain(line.quantity)} × {_plain(line.unit_amount)} {invoice.currency.upper()}"
    return text[:500]


def invoice_item_params(invoice: WarehouseInvoice, line: Line, customer: str) -> dict[str, Any]:
    return {
        "customer": customer,
        "amount": line.amount_minor,
        "currency": invoice.currency,
        "description": line_description(invoice, line),
        "metadata": {
            "invoice_line_id": line.invoice_line_id,
            "invoice_id": invoice.invoice_id,
            "account_id": invoice.account_id,
            "period_start": invoice.period_start.isoformat(),
        },
    }


def invoice_params(invoice: WarehouseInvoice, customer: str) -> dict[str, Any]:
    return {
        "customer": customer,
        "currency": invoice.currency,
        "pending_invoice_items_behavior": "include",
        # Stripe must not finalize it on its own before the push has checked its total.
        "auto_advance": False,
        "description": f"{invoice.account_name}: usage {invoice.period_start} to {invoice.period_end}",
        "metadata": {
            "invoice_id": invoice.invoice_id,
            "account_id": invoice.account_id,
            "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(),
        },
    }


# Once final, Stripe collects it (charges the default payment method or emails the invoice).
FINALIZE_PARAMS = {"auto_advance": True}


def customer_params(invoice: WarehouseInvoice) -> dict[str, Any]:
    return {"name": invoice.account_name, "metadata": {"account_id": invoice.account_id}}


def push_lines(invoice: WarehouseInvoice) -> dict[str, Line]:
    """The lines that become invoice items: every line with a non-zero amount."""
    return {line.invoice_line_id: line for line in invoice.lines if line.amount_minor != 0}


def skip_reason(invoice: WarehouseInvoice) -> str | None:
    if invoice.is_test:
        return "test account"
    if invoice.total_minor == 0:
        return "zero total"
    return None


class Pusher:
    def __init__(self, db_path: Path, api: StripeApi | None, log: Callable[[str], None] = print) -> None:
        self.db_path = db_path
        self.api = api
        self.log = log
        self.ledger = Ledger(db_path)

    # -- the run --
    def run(self, period: str, *, dry_run: bool = False) -> PushReport:
        invoices = read_final_invoices(self.db_path, period)
        report = PushReport(period=period, dry_run=dry_run)
        known_customers = self.ledger.customers()
        if dry_run:
            statuses = self.ledger.invoice_statuses()
            for invoice in invoices:
                report.outcomes.append(self._plan(invoice, known_customers, statuses, report.plan))
            return report
        if self.api is None:
            raise StripeSetupError("no Stripe client")
        self.log(f"{period}: {len(invoices)} final invoice(s) to push")
        for position, invoice in enumerate(invoices, 1):
            outcome = self._process(invoice, known_customers)
            report.outcomes.append(outcome)
            self.ledger.record_invoice(
                invoice,
                status=outcome.status,
                reason=outcome.reason,
                stripe_customer_id=outcome.stripe_customer_id,
                stripe_invoice_id=outcome.stripe_invoice_id,
            )
            self.log(
                f"[{position}/{len(invoices)}] {invoice.invoice_id} ({invoice.account_id}, {invoice.period_start}, "
                f"{amount(invoice)} {invoice.currency.upper()}): {outcome.status}"
                + (f": {outcome.reason}" if outcome.reason else "")
                + (f" → {outcome.stripe_invoice_id}" if outcome.stripe_invoice_id else "")
            )
        report.requests = self.api.requests
        return report

    def _plan(
        self,
        invoice: WarehouseInvoice,
        known_customers: dict[str, str],
        statuses: dict[str, tuple[str, str | None]],
        plan: list[str],
    ) -> InvoiceOutcome:
        reason = skip_reason(invoice)
        if reason:
            plan.append(f"{invoice.invoice_id}: skip ({reason})")
            return InvoiceOutcome(invoice, "skipped", reason)
        status, stripe_invoice_id = statuses.get(invoice.invoice_id, (None, None))
        if status == "pushed":
            plan.append(f"{invoice.invoice_id}: already pushed as {stripe_invoice_id}; nothing to send")
            return InvoiceOutcome(invoice, "pushed", "already pushed", stripe_invoice_id=stripe_invoice_id)
        customer = invoice.catalog_customer_id or known_customers.get(invoice.account_id)
        if customer is None:
            plan.append(
                f"POST /v1/customers {customer_params(invoice)} "
                f"(Idempotency-Key {idempotency_key('customer', invoice.account_id)})"
            )
        target = customer or "<new customer>"
        for line in push_lines(invoice).values():
            plan.append(
                f"POST /v1/invoiceitems {invoice_item_params(invoice, line, target)} "
                f"(Idempotency-Key {idempotency_key('invoiceitem', line.invoice_line_id)})"
            )
        plan.append(
            f"POST /v1/invoices {invoice_params(invoice, target)} "
            f"(Idempotency-Key {idempotency_key('invoice', invoice.invoice_id)}); expected total "
            f"{invoice.total_minor} {invoice.currency}"
        )
        plan.append(
            f"POST /v1/invoices/<id>/finalize {FINALIZE_PARAMS} "
            f"(Idempotency-Key {idempotency_key('finalize', invoice.invoice_id)})"
        )
        return InvoiceOutcome(invoice, "planned", stripe_customer_id=customer)

    def _process(self, invoice: WarehouseInvoice, known_customers: dict[str, str]) -> InvoiceOutcome:
        reason = skip_reason(invoice)
        if reason:
            return InvoiceOutcome(invoice, "skipped", reason)
        outcome = InvoiceOutcome(invoice, "failed")
        try:
            lines_sum = sum(line.amount_minor for line in invoice.lines)
            if lines_sum != invoice.total_minor:
                raise PushConflict(
                    f"warehouse lines sum to {lines_sum}, invoice total is {invoice.total_minor}"
                )
            outcome.stripe_customer_id = self._customer(invoice, known_customers)
            self._push(invoice, outcome)
            outcome.status = "pushed"
        except stripe.AuthenticationError as e:
            # Every other invoice would fail the same way: stop the run.
            raise StripeSetupError(self.api.redact(describe_error(e, None))) from None
        except (stripe.StripeError, PushConflict) as e:
            outcome.reason = self.api.redact(describe_error(e, None)) if self.api else str(e)
        return outcome

    # -- one invoice --
    def _customer(self, invoice: WarehouseInvoice, known_customers: dict[str, str]) -> str:
        customer = invoice.catalog_customer_id or known_customers.get(invoice.account_id)
        if customer:
            return customer
        created = self.api.create_customer(
            customer_params(invoice), idempotency_key("customer", invoice.account_id)
        )
        self.ledger.record_customer(invoice.account_id, created.id)
        known_customers[invoice.account_id] = created.id
        self.log(f"created Stripe customer {created.id} for {invoice.account_id}")
        return created.id

    def _push(self, invoice: WarehouseInvoice, outcome: InvoiceOutcome) -> None:
        api = self.api
        customer = outcome.stripe_customer_id
        expected = push_lines(invoice)
        found = [
            s for s in api.list_invoices(customer) if _metadata(s).get("invoice_id") == invoice.invoice_id
        ]
        if len(found) > 1:
            raise PushConflict(
                f"{len(found)} Stripe invoices carry invoice_id {invoice.invoice_id}: "
                + ", ".join(s.id for s in found)
            )
        if found:
            stripe_invoice = found[0]
            outcome.stripe_invoice_id = stripe_invoice.id
            items = api.list_invoice_items(invoice=stripe_invoice.id)
            item_ids = self._match_items(invoice, expected, items, complete=True)
            outcome.items_found = len(item_ids)
            if stripe_invoice.status == "draft":
                self._check_total(invoice, stripe_invoice)
                stripe_invoice = self._finalize(invoice, stripe_invoice.id)
            self._record(invoice, customer, expected, item_ids, stripe_invoice.id, "finalized")
            return

        pending = api.list_invoice_items(customer=customer, pending=True)
        foreign = [i for i in pending if _metadata(i).get("invoice_id") != invoice.invoice_id]
        if foreign:
            raise PushConflict(
                f"customer {customer} has {len(foreign)} pending invoice item(s) from elsewhere "
                f"({', '.join(i.id for i in foreign[:5])}) that a new invoice would include; push their "
                "period first or delete them in Stripe"
            )
        item_ids = self._match_items(invoice, expected, pending, complete=False)
        outcome.items_found = len(item_ids)
        for line_id, line in expected.items():
            if line_id in item_ids:
                continue
            item = api.create_invoice_item(
                invoice_item_params(invoice, line, customer), idempotency_key("invoiceitem", line_id)
            )
            if item.amount != line.amount_minor or item.currency.lower() != invoice.currency:
                raise PushConflict(f"Stripe answered {item.amount} {item.currency} for line {line_id}")
            item_ids[line_id] = item.id
            outcome.items_created += 1
        self._record(invoice, customer, expected, item_ids, None, "item_created")

        stripe_invoice = api.create_invoice(
            invoice_params(invoice, customer), idempotency_key("invoice", invoice.invoice_id)
        )
        outcome.stripe_invoice_id = stripe_invoice.id
        self._check_total(invoice, stripe_invoice)
        stripe_invoice = self._finalize(invoice, stripe_invoice.id)
        self._record(invoice, customer, expected, item_ids, stripe_invoice.id, "finalized")

    def _finalize(self, invoice: WarehouseInvoice, stripe_invoice_id: str) -> Any:
        return self.api.finalize_invoice(
            stripe_invoice_id, FINALIZE_PARAMS, idempotency_key("finalize", invoice.invoice_id)
        )

    @staticmethod
    def _check_total(invoice: WarehouseInvoice, stripe_invoice: Any) -> None:
        if stripe_invoice.total != invoice.total_minor or stripe_invoice.currency.lower() != invoice.currency:
            raise PushConflict(
                f"Stripe invoice {stripe_invoice.id} totals {stripe_invoice.total} {stripe_invoice.currency}, "
                f"the warehouse {invoice.total_minor} {invoice.currency}; left as a draft"
            )

    @staticmethod
    def _match_items(
        invoice: WarehouseInvoice, expected: dict[str, Line], items: list[Any], *, complete: bool
    ) -> dict[str, str]:
        """line id → Stripe invoice item id for the items already in Stripe; a conflict if they do not
        fit our lines exactly (complete=True: every line must be there)."""
        matched: dict[str, str] = {}
        for item in items:
            meta = _metadata(item)
            line_id = meta.get("invoice_line_id")
            if meta.get("invoice_id") != invoice.invoice_id or line_id not in expected:
                raise PushConflict(
                    f"Stripe invoice item {item.id} is not one of invoice {invoice.invoice_id}'s lines"
                )
            if line_id in matched:
                raise PushConflict(f"line {line_id} is in Stripe twice: {matched[line_id]}, {item.id}")
            line = expected[line_id]
            if item.amount != line.amount_minor or item.currency.lower() != invoice.currency:
                raise PushConflict(
                    f"Stripe invoice item {item.id} is {item.amount} {item.currency}, line {line_id} is "
                    f"{line.amount_minor} {invoice.currency}"
                )
            matched[line_id] = item.id
        missing = [line_id for line_id in expected if line_id not in matched]
        if complete and missing:
            raise PushConflict(f"Stripe invoice lacks {len(missing)} line(s): {', '.join(missing[:5])}")
        return matched

    def _record(
        self,
        invoice: WarehouseInvoice,
        customer: str,
        expected: dict[str, Line],
        item_ids: dict[str, str],
        stripe_invoice_id: str | None,
        status: str,
    ) -> None:
        self.ledger.record_lines(
            (
                line_id,
                invoice.invoice_id,
                invoice.account_id,
                customer,
                item_ids[line_id],
                stripe_invoice_id,
                line.amount_minor,
                invoice.currency,
                status,
            )
            for line_id, line in expected.items()
            if line_id in item_ids
        )


def push_period(
    db_path: Path,
    period: str,
    *,
    api: StripeApi | None,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
) -> PushReport:
    return Pusher(db_path, api, log).run(period, dry_run=dry_run)
