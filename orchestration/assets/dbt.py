"""The dbt models, seeds and tests as Dagster assets and asset checks (one `dbt build`)."""

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.project import dbt_project
from orchestration.resources import release_dbt_duckdb_connections, stage_catalog

GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "billing",
    "marts": "marts",
}


class UsageBillingTranslator(DagsterDbtTranslator):
    """Asset keys are the dbt model names; groups follow the flow of the data."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "catalog"
        fqn = dbt_resource_props.get("fqn", [])
        for folder, group in GROUP_BY_FOLDER.items():
            if folder in fqn:
                return group
        return None


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    as_of: str = ""


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=UsageBillingTranslator(),
)
def usage_billing_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.as_of:
        args += ["--vars", json.dumps({"as_of": config.as_of})]
    # dbt must only ever see a catalog path inside the project (see stage_catalog).
    user_catalog = os.environ.get("USAGE_BILLING_CATALOG")
    staged = stage_catalog()
    if staged:
        os.environ["USAGE_BILLING_CATALOG"] = staged
        context.log.info(f"Pricing catalog: {user_catalog} (staged as {staged})")
    try:
        yield from dbt.cli(args, context=context).stream().fetch_row_counts()
    finally:
        release_dbt_duckdb_connections()
        if user_catalog is not None:
            os.environ["USAGE_BILLING_CATALOG"] = user_catalog
