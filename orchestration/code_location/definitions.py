"""The Dagster code location: `dagster dev` in the repository root loads these Definitions.

Groups follow the flow: raw_events → catalog/staging → billing → close → marts → stripe → exports.
close, push and export are partitioned by billing month (YYYY-MM); the dbt build is incremental by file.
"""

from __future__ import annotations

import dagster as dg

from orchestration.code_location.assets.close import close_billing_periods
from orchestration.code_location.assets.dbt import usage_billing_dbt_assets
from orchestration.code_location.assets.export import finance_export
from orchestration.code_location.assets.payments import entitlements_document, stripe_invoice_status
from orchestration.code_location.assets.raw_events import raw_events
from orchestration.code_location.assets.stripe import stripe_push
from orchestration.code_location.checks import CHECKS
from orchestration.code_location.partitions import billing_months
from orchestration.code_location.resources import dbt_resource, stripe_resource
from orchestration.code_location.schedules import (
    daily_deep_checks,
    hourly_payment_status,
    hourly_refresh,
    monthly_close_and_push,
)
from orchestration.code_location.sensors import raw_events_sensor

close = dg.AssetSelection.assets(close_billing_periods)
push = dg.AssetSelection.assets(stripe_push)
export = dg.AssetSelection.assets(finance_export)
payment_status = dg.AssetSelection.assets(stripe_invoice_status)
# The status read, the marts that read it (receivables, entitlements) and the document.
after_payment_status = payment_status | payment_status.downstream()
entitlements = dg.AssetSelection.assets(entitlements_document)
checks = dg.AssetSelection.checks(*CHECKS)
# Every job writes the one DuckDB file: the tag lets the run queue run them one at a time
# (docs/operations.md, "One run at a time").
WAREHOUSE_TAG = {"usage_billing/warehouse": "write"}

build_job = dg.define_asset_job(
    name="build_job",
    tags=WAREHOUSE_TAG,
    selection=dg.AssetSelection.assets(raw_events)
    | dg.AssetSelection.assets(usage_billing_dbt_assets)
    | checks
    | entitlements,
    description=(
        "Scan the event files, then dbt build: stage, dedupe, aggregate and price them; then the checks, "
        "and the entitlements document for the gateway."
    ),
)

close_job = dg.define_asset_job(
    name="close_job",
    tags=WAREHOUSE_TAG,
    selection=close | (close.downstream() - push - export - payment_status),
    partitions_def=billing_months,
    description=(
        "Close a month's account periods into the ledger (P13; partition = month; run config: force, "
        "grace_days), then rebuild the marts so they show them as final."
    ),
)

push_job = dg.define_asset_job(
    name="push_job",
    tags=WAREHOUSE_TAG,
    selection=push | after_payment_status,
    partitions_def=billing_months,
    description=(
        "Push a month's final invoices to Stripe exactly once, then reconcile (partition = month); then read "
        "payment statuses back and publish the entitlements."
    ),
)

payment_status_job = dg.define_asset_job(
    name="payment_status_job",
    tags=WAREHOUSE_TAG,
    selection=after_payment_status,
    description=(
        "Read every open pushed invoice's payment status from Stripe, rebuild accounts_receivable and "
        "account_entitlements, and publish the entitlements document."
    ),
)

export_job = dg.define_asset_job(
    name="export_job",
    tags=WAREHOUSE_TAG,
    selection=export,
    partitions_def=billing_months,
    description="Export a month's closed invoices and lines for finance (partition = month).",
)

close_and_push_job = dg.define_asset_job(
    name="close_and_push_job",
    tags=WAREHOUSE_TAG,
    selection=close | close.downstream(),
    partitions_def=billing_months,
    description=(
        "A month end: close the month's billing periods (P13), rebuild the marts, push the final invoices "
        "to Stripe, read their payment status back and export them for finance. Backfill a month (or a "
        "range) from the UI to run it."
    ),
)

# Per-run data tests check the rows of their run; the full history is checked daily here (and in CI,
# scripts/test.sh): the dbt tests alone, as the dbt asset's checks, with the var full_history_checks.
deep_checks = dg.define_asset_job(
    name="deep_checks",
    tags=WAREHOUSE_TAG,
    selection=dg.AssetSelection.checks_for_assets(usage_billing_dbt_assets) - checks,
    config={"ops": {"usage_billing_dbt_assets": {"config": {"full_history_checks": True}}}},
    description=(
        "Every dbt data test over the whole history (var full_history_checks): uniqueness and not-null of "
        "event-level tables, which each build checks on its own rows only. Fails, naming the tests, if any fails."
    ),
)

defs = dg.Definitions(
    assets=[
        raw_events,
        usage_billing_dbt_assets,
        close_billing_periods,
        stripe_push,
        stripe_invoice_status,
        entitlements_document,
        finance_export,
    ],
    asset_checks=CHECKS,
    jobs=[build_job, close_job, push_job, payment_status_job, export_job, close_and_push_job, deep_checks],
    schedules=[hourly_refresh, monthly_close_and_push, daily_deep_checks, hourly_payment_status],
    sensors=[raw_events_sensor],
    resources={"dbt": dbt_resource(), "stripe": stripe_resource()},
)
