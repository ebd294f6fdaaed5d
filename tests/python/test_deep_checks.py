"""The deep_checks job runs every dbt data test over the whole history: it passes on a clean warehouse and
fails, naming the test, when a full-history check fails (a duplicate event id in the dedupe table)."""

from __future__ import annotations

import dagster as dg
import duckdb
from conftest import Warehouse

UNIQUE_EVENT_ID = "unique_int_usage_events_deduplicated_event_id"


def _deep_checks() -> dg.ExecuteInProcessResult:
    from orchestration.code_location.definitions import defs

    return defs.resolve_job_def("deep_checks").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def test_deep_checks_pass_then_fail_on_a_duplicate_event(warehouse: Warehouse) -> None:
    warehouse.write_events(
        "jan.ndjson",
        [
            {"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-10T12:00:00Z"},
            {"event_id": "e2", "account_id": "acct_0001", "timestamp": "2026-01-11T12:00:00Z"},
        ],
    )
    warehouse.build()

    clean = _deep_checks()
    assert clean.success
    evaluations = clean.get_asset_check_evaluations()
    assert len(evaluations) >= 100 and all(e.passed for e in evaluations)
    assert not clean.get_asset_materialization_events()  # tests only: no model is rebuilt

    con = duckdb.connect(str(warehouse.db_path))
    try:
        con.execute(
            "insert into intermediate.int_usage_events_deduplicated "
            "select * from intermediate.int_usage_events_deduplicated where event_id = 'e1'"
        )
    finally:
        con.close()
    broken = _deep_checks()
    assert not broken.success
    failed = {e.check_name for e in broken.get_asset_check_evaluations() if not e.passed}
    assert any(name.startswith(UNIQUE_EVENT_ID) for name in failed), failed
    failure = " ".join(
        e.step_failure_data.user_failure_data.description
        for e in broken.all_events
        if e.is_step_failure and e.step_failure_data.user_failure_data
    )
    assert UNIQUE_EVENT_ID in failure, failure
