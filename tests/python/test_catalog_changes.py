"""The pricing catalog's seeds and their tests run only when the catalog changed (orchestration/warehouse/catalog_state.py):
an unchanged catalog is neither reloaded nor re-tested; an edited file, a --full-refresh and a failed build
make the next build reload and re-test it; a catalog with a bad row still fails the build."""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
from conftest import Warehouse

from orchestration.warehouse.project import target_dir

SEEDS = {
    "meters",
    "currencies",
    "plans",
    "prices",
    "price_tiers",
    "accounts",
    "account_plans",
    "credit_grants",
}


def _seed_tests() -> set[str]:
    from orchestration.warehouse.catalog_state import seed_test_names

    return seed_test_names(json.loads((target_dir() / "manifest.json").read_text()))


def _ran(result: dg.ExecuteInProcessResult) -> tuple[set[str], set[str]]:
    """The seeds materialized and the checks evaluated by a run."""
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    checks = {e.check_name for e in result.get_asset_check_evaluations()}
    return materialized & SEEDS, checks


def _pro_invoice_total(warehouse: Warehouse) -> Decimal:
    ((total,),) = warehouse.query(
        "select total from marts.fct_invoices where account_id = 'acct_0001' and period_start = date '2026-01-01'"
    )
    return total


def _stored(warehouse: Warehouse) -> str | None:
    from orchestration.warehouse.catalog_state import stored_fingerprint

    return stored_fingerprint(warehouse.db_path)


def test_catalog_reloads_only_when_changed(warehouse: Warehouse) -> None:
    from orchestration.warehouse.catalog_state import catalog_fingerprint

    seed_tests = _seed_tests()
    assert len(seed_tests) >= 20  # not-null, unique, accepted values and relationships among the seeds
    warehouse.write_events(
        "jan.ndjson",
        [{"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-10T12:00:00Z", "units": 1}],
    )

    seeds, checks = _ran(warehouse.build())  # a new warehouse: the catalog is loaded and tested
    assert seeds == SEEDS
    assert seed_tests <= checks
    assert _stored(warehouse) == catalog_fingerprint(warehouse.catalog_dir)
    before = _pro_invoice_total(warehouse)

    seeds, checks = _ran(warehouse.build())  # unchanged: no seed, no test on seeds only
    assert seeds == set()
    assert not seed_tests & checks
    # A test that reads a model as well as a seed still runs.
    assert "relationships_fct_invoice_lines_price_id__price_id__ref_prices_" in checks
    assert _pro_invoice_total(warehouse) == before

    # One value of one file: Pro's base fee 49.00 → 59.00. acct_0001 is on Pro for all of January
    # (anchor day 1, no proration), so its January invoice grows by exactly 59.00 − 49.00 = 10.00.
    plans = warehouse.catalog_dir / "plans.csv"
    plans.write_text(
        plans.read_text().replace("pro,Pro subscription,usd,49.00", "pro,Pro subscription,usd,59.00")
    )
    seeds, checks = _ran(warehouse.build())
    assert seeds == SEEDS
    assert seed_tests <= checks
    assert _pro_invoice_total(warehouse) - before == Decimal("10.00")
    base_fees = warehouse.query(
        """select amount from marts.fct_invoice_lines where account_id = 'acct_0001'
           and period_start = date '2026-01-01' and line_type = 'base_fee'"""
    )
    assert base_fees == [(Decimal("59.00"),)]

    seeds, checks = _ran(warehouse.build(full_refresh=True))  # a full refresh reloads it all
    assert seeds == SEEDS
    assert seed_tests <= checks


def test_bad_catalog_still_fails_and_the_next_build_reloads(warehouse: Warehouse) -> None:
    warehouse.write_events(
        "jan.ndjson",
        [{"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-10T12:00:00Z", "units": 1}],
    )
    warehouse.build()
    assert _stored(warehouse) is not None

    accounts = warehouse.catalog_dir / "accounts.csv"
    good = accounts.read_text()
    accounts.write_text(good + "acct_29,Late anchor,usd,,29,false\n")  # anchor day 29: a catalog error
    result = warehouse.build(raise_on_error=False)
    assert not result.success
    # The catalog's check failed the build before anything was priced (tests/python/test_catalog_validation.py
    # reads its message): neither it nor the invoices were materialized.
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert {"accounts", "stg_raw_events__usage_events"} <= materialized
    assert not {"int_catalog_errors", "fct_invoices"} & materialized
    assert _stored(warehouse) is None  # a failed build leaves no fingerprint

    accounts.write_text(good)  # back to the catalog the last successful build loaded: reloaded anyway
    seeds, _ = _ran(warehouse.build())
    assert seeds == SEEDS
