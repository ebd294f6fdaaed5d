"""The Dagster code location: `dagster dev` in the repository root loads these Definitions."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import usage_billing_dbt_assets
from orchestration.assets.raw_events import raw_events
from orchestration.assets.stripe import stripe_push
from orchestration.resources import dbt_resource, stripe_resource

build_job = dg.define_asset_job(
    name="build_job",
    selection=dg.AssetSelection.assets(raw_events) | dg.AssetSelection.assets(usage_billing_dbt_assets),
    description="Scan the event files, then dbt build: stage, dedupe, aggregate and price them.",
)

push_job = dg.define_asset_job(
    name="push_job",
    selection=dg.AssetSelection.assets(stripe_push),
    description="Push a month's final invoices to Stripe exactly once, then reconcile (run config: period).",
)

defs = dg.Definitions(
    assets=[raw_events, usage_billing_dbt_assets, stripe_push],
    jobs=[build_job, push_job],
    resources={"dbt": dbt_resource(), "stripe": stripe_resource()},
)
