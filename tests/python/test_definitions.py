"""The Dagster code location: Definitions load, the build job runs in process twice, metadata is there."""

from __future__ import annotations

from decimal import Decimal

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
    from orchestration.code_location.definitions import defs

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
    from orchestration.code_location.definitions import defs

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
    assert materializations["raw_events"]["new_file_count"].value == 1
    # Figures read back from the warehouse: 26 rows in = 25 valid + 0 duplicates + 1 quarantined.
    recon = materializations["event_reconciliation"]
    assert (recon["rows_in"].value, recon["rows_out_valid"].value, recon["rows_quarantined"].value) == (
        26,
        25,
        1,
    )
    assert "| not_json | 1 |" in materializations["events_quarantined"]["quarantine_reasons"].value
    # Revenue per currency and the ten largest invoices of each currency, against the marts themselves. acct_0001 (pro, anchor 1):
    # base fee $49.00; its 25 calls stay in the free tier 1 of pro_calls, so its invoice is 49.00 USD.
    invoices = materializations["fct_invoices"]
    sums = warehouse.query("select currency, sum(total) from marts.fct_invoices group by 1")
    minor = dict(warehouse.query("select currency, minor_units from catalog.currencies"))
    assert invoices["revenue_per_currency"].value == {
        c.upper(): f"{t.quantize(Decimal(1).scaleb(-minor[c])):,} {c.upper()}" for c, t in sums
    }
    top = invoices["top_10_invoices_per_currency"].value.splitlines()
    largest = warehouse.query(
        "select invoice_id from marts.fct_invoices qualify row_number() over "
        "(partition by currency order by total desc, invoice_id) <= 10 order by currency, total desc, invoice_id"
    )
    assert top[0].startswith("| invoice | account |") and len(top) == 2 + len(largest)
    assert [row.split(" | ")[0].lstrip("| ") for row in top[2:]] == [i for (i,) in largest]
    assert warehouse.query(
        "select total from marts.fct_invoices where account_id = 'acct_0001' and period_start = '2026-01-01'"
    ) == [(Decimal("49.0000"),)]
    assert any("| acct_0001 | 2026-01-01 |" in row and "49.00 USD" in row for row in top)
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    # 1 quarantined line of 26 rows read = 3.85 % > the 1 % default: the quarantine-rate check warns.
    rate = checks.pop("quarantine_rate")
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.WARN
    assert rate.metadata["rows_read"].value == 26 and rate.metadata["rows_quarantined"].value == 1
    # One account, one period: nothing to compare, every event billed, every file adds up (26 = 25 + 0 + 1).
    assert checks["invoice_total_change"].metadata["open_invoices_compared"].value == 0
    assert checks["no_unbilled_usage"].passed
    assert checks["conservation_per_file"].passed
    assert checks and all(c.passed for c in checks.values())

    second = _run_build_job(defs, instance)
    again = _metadata_by_asset(second)
    # The second run reads no file again: staging keeps its 26 rows.
    assert again["stg_raw_events__usage_events"]["dagster/row_count"].value == 26
    assert warehouse.query("select count(*) from staging.stg_raw_events__usage_events") == [(26,)]


def test_groups_owners_kinds_partitions_schedules_sensor() -> None:
    from orchestration.code_location.definitions import defs

    graph = defs.resolve_asset_graph()

    def node(key: str | list[str]):
        return graph.get(dg.AssetKey(key))

    expected = {
        "raw_events": ("raw_events", {"file"}),
        "stg_raw_events__usage_events": ("staging", {"dbt", "duckdb"}),
        "int_usage_events_deduplicated": ("billing", {"dbt", "duckdb"}),
        "fct_invoice_lines": ("marts", {"dbt", "duckdb"}),
        "stripe_push": ("stripe", {"stripe", "python"}),
        "finance_export": ("exports", {"duckdb", "csv", "parquet"}),
    }
    for key, (group, kinds) in expected.items():
        assert node(key).group_name == group, key
        assert kinds <= set(node(key).kinds), key
        assert node(key).owners, key
        assert node(key).description, key
    assert node(["ledger", "final_invoices"]).group_name == "close"
    # Every asset has a group and an owner.
    for key in graph.get_all_asset_keys():
        if graph.get(key).is_materializable:
            assert graph.get(key).group_name and graph.get(key).owners, key

    # close, push and export are partitioned by billing month; the dbt build is not.
    months = node("stripe_push").partitions_def
    assert months is not None and months.get_first_partition_key() == "2025-01"
    assert "2026-03" in months.get_partition_keys()
    for key in (["ledger", "final_invoices"], ["ledger", "final_invoice_lines"], "finance_export"):
        assert node(key).partitions_def == months
    assert node("fct_invoices").partitions_def is None
    assert defs.resolve_job_def("close_and_push_job").partitions_def == months
    # The month-end job runs close → marts → push → export.
    job_keys = defs.resolve_job_def("close_and_push_job").asset_layer.executable_asset_keys
    for key in (["ledger", "final_invoices"], ["fct_invoices"], ["stripe_push"], ["finance_export"]):
        assert dg.AssetKey(key) in job_keys

    # The asset checks beyond dbt's tests, on the assets they watch.
    check_keys = set(graph.asset_check_keys)
    for asset, check in (
        ("event_reconciliation", "conservation_per_file"),
        ("events_quarantined", "quarantine_rate"),
        ("unbilled_usage", "no_unbilled_usage"),
        ("fct_invoices", "invoice_total_change"),
        ("stripe_push", "stripe_reconciliation"),
    ):
        assert dg.AssetCheckKey(dg.AssetKey(asset), check) in check_keys

    # Schedules and the sensor: visible, off until turned on.
    hourly = defs.resolve_schedule_def("hourly_refresh")
    monthly = defs.resolve_schedule_def("monthly_close_and_push")
    assert hourly.cron_schedule == "0 * * * *" and hourly.job_name == "build_job"
    assert monthly.cron_schedule == "0 6 4 * *" and monthly.job_name == "close_and_push_job"
    deep = defs.resolve_schedule_def("daily_deep_checks")
    assert deep.cron_schedule == "30 3 * * *" and deep.job_name == "deep_checks"
    assert (
        hourly.default_status
        == monthly.default_status
        == deep.default_status
        == dg.DefaultScheduleStatus.STOPPED
    )
    # deep_checks runs the dbt tests only, as the dbt asset's checks: no asset is materialized.
    deep_job = defs.resolve_job_def("deep_checks")
    assert not deep_job.asset_layer.executable_asset_keys & {dg.AssetKey("fct_invoices")}
    sensor = defs.resolve_sensor_def("raw_events_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "build_job"


def test_schedules_are_configurable(monkeypatch) -> None:
    import importlib

    import orchestration.code_location.schedules

    monkeypatch.setenv("USAGE_BILLING_REFRESH_CRON", "*/15 * * * *")
    monkeypatch.setenv("USAGE_BILLING_CLOSE_CRON", "0 7 5 * *")
    monkeypatch.setenv("USAGE_BILLING_GRACE_DAYS", "4")
    monkeypatch.setenv("USAGE_BILLING_DEEP_CHECKS_CRON", "0 2 * * *")
    try:
        schedules = importlib.reload(orchestration.code_location.schedules)
        assert schedules.hourly_refresh.cron_schedule == "*/15 * * * *"
        assert schedules.monthly_close_and_push.cron_schedule == "0 7 5 * *"
        assert schedules.daily_deep_checks.cron_schedule == "0 2 * * *"
        config = schedules.close_and_push_run_config()
        assert config["ops"]["close_billing_periods"]["config"]["grace_days"] == 4
    finally:
        monkeypatch.undo()
        importlib.reload(orchestration.code_location.schedules)


def test_dbt_version_is_read_from_the_installed_package(monkeypatch, tmp_path) -> None:
    """dagster-dbt would run `dbt --version` (a second dbt start) before every command; the project's own
    dbt is the installed dbt-core, so no process may be started for it. Another executable still is asked."""
    from importlib.metadata import version

    import dagster_dbt.core.resource as dagster_dbt_resource

    from orchestration.code_location.resources import UsageBillingDbtCliResource, dbt_resource

    asked: list[list[str]] = []

    def fake_check_output(cmd, *args, **kwargs):
        asked.append(list(cmd))
        return b"Core:\n  - installed: 9.8.7\n"

    monkeypatch.setattr(dagster_dbt_resource, "check_output", fake_check_output)

    ours = dbt_resource()
    assert str(ours._cli_version) == version("dbt-core")
    assert asked == []

    elsewhere = tmp_path / "dbt"  # e.g. a dbt Fusion binary: only `dbt --version` tells which it is
    elsewhere.write_text("#!/bin/sh\n")
    elsewhere.chmod(0o755)
    other = UsageBillingDbtCliResource(project_dir=ours.project_dir, dbt_executable=str(elsewhere))
    assert str(other._cli_version) == "9.8.7"
    assert asked == [[str(elsewhere), "--version"]]
