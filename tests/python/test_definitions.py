"""The Dagster code location: Definitions load, the build job runs in process twice, metadata is there."""

from __future__ import annotations

import dagster as dg
from conftest import Warehouse


def _run_build_job(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("build_job").execute_in_process(instance=instance, raise_on_error=True)


def _metadata_by_asset(result: dg.ExecuteInProcessResult) -> dict:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        found[materialization.asset_key.to_user_string()] = materialization.metadata
    return found


def test_definitions_load_with_expected_assets_and_checks() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for expected in (
        "raw_events",
        "stg_raw_events__usage_events",
        "int_usage_events_deduplicated",
        "fct_invoice_lines",
        "fct_invoices",
        "fct_account_period_usage",
        "events_quarantined",
        "event_reconciliation",
        "unbilled_usage",
    ):
        assert expected in keys
    # raw_events is upstream of staging; dbt tests arrive as asset checks.
    staging = graph.get(dg.AssetKey("stg_raw_events__usage_events"))
    assert dg.AssetKey("raw_events") in staging.parent_keys
    check_names = {c.name for c in graph.asset_check_keys}
    assert "lines_sum_to_invoice_fct_invoices_ref_fct_invoice_lines_" in check_names
    assert any(name.startswith("rows_reconcile_event_reconciliation") for name in check_names)


def test_build_job_in_process_twice(warehouse: Warehouse) -> None:
    from orchestration.definitions import defs

    warehouse.write_events(
        "one.ndjson",
        [
            {"event_id": f"e{i}", "account_id": "acct_0001", "timestamp": "2026-01-03T10:00:00Z"}
            for i in range(25)
        ]
        + ["not json"],
    )
    instance = dg.DagsterInstance.ephemeral()
    first = _run_build_job(defs, instance)
    materializations = _metadata_by_asset(first)
    # Row counts in the materialization metadata (dagster-dbt fetch_row_counts).
    assert materializations["stg_raw_events__usage_events"]["dagster/row_count"].value == 26
    assert materializations["events_quarantined"]["dagster/row_count"].value == 1
    assert materializations["raw_events"]["file_count"].value == 1
    checks = first.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)

    second = _run_build_job(defs, instance)
    again = _metadata_by_asset(second)
    # The second run reads no file again: staging keeps its 26 rows.
    assert again["stg_raw_events__usage_events"]["dagster/row_count"].value == 26
    assert warehouse.query("select count(*) from staging.stg_raw_events__usage_events") == [(26,)]
