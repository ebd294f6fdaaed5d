"""The Dagster code location: `dagster dev` in the repository root loads these Definitions."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.close import close_billing_periods
from orchestration.assets.dbt import usage_billing_dbt_assets
from orchestration.assets.raw_events import raw_events
from orchestration.assets.stripe import stripe_push
from orchestration.resources import dbt_resource, stripe_resource
from orchestration.schedules import monthly_close_and_push

build_job = dg.define_asset_job(
    name="build_job",
    selection=dg.AssetSelection.assets(raw_events) | dg.AssetSelection.assets(usage_billing_dbt_assets),
    description="Scan the event files, then dbt build: stage, dedupe, aggregate and price them.",
)

close_job = dg.define_asset_job(
    name="close_job",
    selection=dg.AssetSelection.assets(close_billing_periods)
    | (dg.AssetSelection.assets(close_billing_periods).downstream() - dg.AssetSelection.assets(stripe_push)),
    description=(
        "Close a month's account periods into the ledger (P13; run config: period, force, grace_days), "
        "then rebuild the marts so they show them as final."
    ),
)

push_job = dg.define_asset_job(
    name="push_job",
    selection=dg.AssetSelection.assets(stripe_push),
    description="Push a month's final invoices to Stripe exactly once, then reconcile (run config: period).",
)

close_and_push_job = dg.define_asset_job(
    name="close_and_push_job",
    selection=dg.AssetSelection.assets(close_billing_periods)
    | dg.AssetSelection.assets(close_billing_periods).downstream(),
    description="Close the months' billing periods (P13), rebuild the marts, push the final invoices to Stripe.",
)

defs = dg.Definitions(
    assets=[raw_events, usage_billing_dbt_assets, close_billing_periods, stripe_push],
    jobs=[build_job, close_job, push_job, close_and_push_job],
    schedules=[monthly_close_and_push],
    resources={"dbt": dbt_resource(), "stripe": stripe_resource()},
)
