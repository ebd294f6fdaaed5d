"""The Dagster code location: `dagster dev` in the repository root loads these Definitions."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import usage_billing_dbt_assets
from orchestration.assets.raw_events import raw_events
from orchestration.resources import dbt_resource

build_job = dg.define_asset_job(
    name="build_job",
    selection=dg.AssetSelection.assets(raw_events) | dg.AssetSelection.assets(usage_billing_dbt_assets),
    description="Scan the event files, then dbt build: stage, dedupe, aggregate and price them.",
)

defs = dg.Definitions(
    assets=[raw_events, usage_billing_dbt_assets],
    jobs=[build_job],
    resources={"dbt": dbt_resource()},
)
