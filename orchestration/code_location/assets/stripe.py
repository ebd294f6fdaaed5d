"""The Stripe push as a Dagster asset, with the read-back reconciliation as its asset check.

The asset is partitioned by billing month (YYYY-MM): `usage-billing push --period YYYY-MM` materializes that
partition in process; in the UI, materialize (or backfill) the month's partition, alone (`push_job`) or after
the close (`close_and_push_job`).
"""

import dagster as dg
from pydantic import Field

from orchestration.code_location.partitions import billing_months, run_months
from orchestration.code_location.resources import StripeResource
from orchestration.stripe.client import StripeSetupError
from orchestration.stripe.push import PushReport, push_period
from orchestration.stripe.reconcile import PROBLEM_STATUSES, reconcile
from orchestration.warehouse.project import duckdb_path
from orchestration.warehouse.warehouse_lock import step_lock

RECONCILIATION_CHECK = "stripe_reconciliation"


class StripePushConfig(dg.Config):
    """The months pushed are the run's partitions (YYYY-MM: the invoices whose period starts in them)."""

    dry_run: bool = Field(default=False, description="Print what would be sent; send and record nothing.")
    live: bool = Field(default=False, description="Allow a live-mode key (sk_live_/rk_live_).")


def _metadata(report: PushReport, api_base: str) -> dict:
    pushed = report.with_status("pushed")
    return {
        "period": report.period,
        "dry_run": report.dry_run,
        "invoices_pushed": len(pushed),
        "invoices_skipped": len(report.with_status("skipped")),
        "invoices_failed": len(report.failed),
        "amount_pushed": ", ".join(f"{v} {k.upper()}" for k, v in sorted(report.pushed_amounts().items()))
        or "0",
        "items_created": sum(o.items_created for o in pushed),
        "stripe_requests": report.requests,
        "stripe_invoice_ids": dg.MetadataValue.json(
            {o.invoice.invoice_id: o.stripe_invoice_id for o in pushed if o.stripe_invoice_id}
        ),
        "failures": dg.MetadataValue.json({o.invoice.invoice_id: o.reason for o in report.failed}),
        "stripe_objects": dg.MetadataValue.md(_objects_table(report, api_base)),
        "summary": dg.MetadataValue.md(f"```\n{report.summary()}\n```"),
        # What `usage-billing push` prints without -v: the rows of invoices that failed only.
        "headline": dg.MetadataValue.md(f"```\n{report.summary(every_invoice=False)}\n```"),
    }


def _stripe_link(object_id: str, api_base: str) -> str:
    """A Stripe invoice id, linked to the Dashboard when the push talked to Stripe itself."""
    if "api.stripe.com" in api_base:
        return f"[{object_id}](https://dashboard.stripe.com/invoices/{object_id})"
    return f"`{object_id}`"


def _objects_table(report: PushReport, api_base: str) -> str:
    rows = [
        "| invoice | account | status | Stripe customer | Stripe invoice | items created |",
        "|---|---|---|---|---|---:|",
    ]
    for o in report.outcomes:
        rows.append(
            f"| {o.invoice.invoice_id} | {o.invoice.account_id} | {o.status}"
            + (f" ({o.reason})" if o.reason else "")
            + f" | {o.stripe_customer_id or '-'} | "
            + (_stripe_link(o.stripe_invoice_id, api_base) if o.stripe_invoice_id else "-")
            + f" | {o.items_created} |"
        )
    return "\n".join(rows)


def _merged(reports: list[PushReport]) -> PushReport:
    merged = PushReport(period=", ".join(r.period for r in reports), dry_run=reports[0].dry_run)
    for r in reports:
        merged.outcomes.extend(r.outcomes)
        merged.plan.extend(r.plan)
        merged.requests += r.requests
    return merged


@dg.asset(
    key="stripe_push",
    deps=[dg.AssetKey(["fct_invoice_lines"]), dg.AssetKey(["fct_invoices"])],
    group_name="stripe",
    kinds={"stripe", "python"},
    owners=["team:billing"],
    partitions_def=billing_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description=(
        "Final invoices of a month pushed to Stripe exactly once (invoice items, invoice, finalize), "
        "recorded in ledger.stripe_push_lines and ledger.stripe_push_invoices, then read back into "
        "marts.stripe_reconciliation."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILIATION_CHECK,
            asset="stripe_push",
            description="Every pushed invoice is in Stripe, finalized, with the warehouse total.",
        )
    ],
)
def stripe_push(context: dg.AssetExecutionContext, config: StripePushConfig, stripe: StripeResource):
    with step_lock(context):  # the push ledger is in the warehouse: one writer at a time
        yield from _push(context, config, stripe)


def _push(context: dg.AssetExecutionContext, config: StripePushConfig, stripe: StripeResource):
    db_path = duckdb_path()
    periods = run_months(context)
    reports: list[PushReport] = []
    try:
        api = None if config.dry_run else stripe.client(live=config.live)
        for period in periods:
            reports.append(
                push_period(db_path, period, api=api, dry_run=config.dry_run, log=context.log.info)
            )
    except (StripeSetupError, ValueError) as e:
        raise dg.Failure(description=str(e)) from None
    report = reports[0] if len(reports) == 1 else _merged(reports)
    metadata = _metadata(report, stripe.api_base)
    if config.dry_run:
        context.log.info(report.summary())
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(check_name=RECONCILIATION_CHECK, passed=True, metadata={"dry_run": True})
        return
    rows = [row for one in reports for row in reconcile(db_path, one, api)]
    problems = [r for r in rows if r.status in PROBLEM_STATUSES]
    context.log.info(report.summary())
    if report.failed:
        raise dg.Failure(
            description=(
                f"{len(report.failed)} invoice(s) failed to push: "
                + "; ".join(f"{o.invoice.invoice_id}: {o.reason}" for o in report.failed)
            ),
            metadata=metadata,
        )
    yield dg.MaterializeResult(metadata=metadata)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    yield dg.AssetCheckResult(
        check_name=RECONCILIATION_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **{f"invoices_{status}": n for status, n in sorted(counts.items())},
            "problems": dg.MetadataValue.json({r.invoice_id: f"{r.status}: {r.reason}" for r in problems}),
        },
    )
