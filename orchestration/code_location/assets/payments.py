"""Closing the loop: payment status read back from Stripe, and the entitlements document for the gateway.

- `stripe_invoice_status`: reads each open pushed invoice from Stripe into ledger.stripe_invoice_status
  (orchestration/stripe/payments.py). It runs after every push (push_job, close_and_push_job), hourly
  (payment_status_job's schedule, off until turned on), on `usage-billing payment-status`, and on a
  verified Stripe webhook. The dbt models downstream of it (accounts_receivable, account_entitlements)
  are rebuilt in the same run.
- `entitlements_document`: marts.account_entitlements published as JSON (orchestration/readers/entitlements.py)
  after every build and every status read, with the blocked accounts per reason as metadata.
"""

import dagster as dg

from orchestration.code_location.resources import StripeResource
from orchestration.readers.entitlements import blocked_counts, build_document, document_location, publish
from orchestration.stripe.client import StripeSetupError
from orchestration.stripe.payments import read_payment_status
from orchestration.warehouse.project import duckdb_path
from orchestration.warehouse.warehouse_lock import step_lock


class PaymentStatusConfig(dg.Config):
    stripe_invoice_ids: list[str] = []  # only these (a webhook's invoice); empty: every open pushed invoice
    live: bool = False


@dg.asset(
    key="stripe_invoice_status",
    deps=["stripe_push"],
    group_name="stripe",
    kinds={"stripe", "python"},
    owners=["team:billing"],
    description=(
        "Payment status of every open pushed invoice as Stripe reports it (open, paid, uncollectible, void; "
        "amounts due, paid and remaining; due date), appended to ledger.stripe_invoice_status when changed."
    ),
)
def stripe_invoice_status(
    context: dg.AssetExecutionContext, config: PaymentStatusConfig, stripe: StripeResource
) -> dg.MaterializeResult:
    try:
        api = stripe.client(live=config.live)
    except StripeSetupError as e:
        raise dg.Failure(description=str(e)) from None
    with step_lock(context):
        report = read_payment_status(
            duckdb_path(), api, stripe_invoice_ids=config.stripe_invoice_ids or None, log=context.log.info
        )
    context.log.info(report.summary())
    return dg.MaterializeResult(
        metadata={
            "invoices_read": report.invoices_read,
            "invoices_changed": len(report.changed),
            "read_errors": len(report.errors),
            **{f"invoices_{status}": n for status, n in sorted(report.by_status.items())},
            "summary": report.summary(),
        }
    )


@dg.asset(
    key="entitlements_document",
    deps=[dg.AssetKey(["account_entitlements"]), dg.AssetKey(["account_entitlement_limits"])],
    group_name="entitlements",
    kinds={"json", "python"},
    owners=["team:billing"],
    description=(
        "marts.account_entitlements as the JSON document a gateway polls (USAGE_BILLING_ENTITLEMENTS), "
        "written atomically with its as-of times and a checksum; blocked accounts per reason as metadata."
    ),
)
def entitlements_document(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    db_path = duckdb_path()
    with step_lock(context):
        document = build_document(db_path)
    where = publish(document, document_location(db_path))
    counts = blocked_counts(document)
    context.log.info(
        f"entitlements: {document['blocked']} of {len(document['accounts'])} account(s) blocked; written to {where}"
    )
    return dg.MaterializeResult(
        metadata={
            "location": where,
            "checksum": document["checksum"],
            "accounts": len(document["accounts"]),
            "blocked": document["blocked"],
            **{f"blocked_{reason}": n for reason, n in counts.items()},
            "as_of": document["as_of"] or "",
            "payments_read_at": document["payments_read_at"] or "",
        }
    )
