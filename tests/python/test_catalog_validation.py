"""Catalog validation (CONTRACT.md §2): a catalog with one bad row per rule fails the build, and the
message names each bad row. One dbt build over the broken catalog; one test per rule reads its message."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SEEDS

# (file, rows appended to the sample catalog, the message that must appear)
BROKEN_ROWS = {
    "unique_count_without_field": (
        {"meters.csv": ["bad_users,unique_count,,user,2xx"]},
        "meters.csv (bad_users): a unique_count meter needs unique_field",
    ),
    "negative_amount": (
        {
            # The last six columns are the gateway's settings (blank = off), two of them broken here.
            "plans.csv": [
                "neg_plan,Negative,usd,-1,,,,,,,,",
                "neg_days,Negative days,usd,0,,,,,,-1,,",
                "stale_plan,Stale,usd,0,,,,,,,sometimes,",
            ],
            "credit_grants.csv": ["g_neg,acct_0001,-5,2026-01-01,"],
        },
        "plans.csv (neg_plan): base_fee -1",
    ),
    "negative_setting": (
        {},
        "plans.csv (neg_days): block_overdue_days -1 is negative",
    ),
    "invalid_when_stale": (
        {},
        "plans.csv (stale_plan): when_stale sometimes is not allow or block",
    ),
    "negative_grant": (
        {},
        "credit_grants.csv (g_neg): amount -5",
    ),
    "package_on_tiered_price": (
        {
            "prices.csv": ["bad_pkg,payg,tokens,/v1/x,tiered,graduated,,100,,"],
            "price_tiers.csv": ["bad_pkg,1,,0.001,0"],
        },
        "prices.csv (bad_pkg): package_size 100 is set on a tiered price",
    ),
    "invalid_key_hash": (
        # api_keys.csv holds the SHA-256 of each key, never the key (docs/gateway_logs.md).
        {"api_keys.csv": ["sk_live_plain_key_by_mistake,acct_0001", "a" * 64 + ",acct_ghost"]},
        "api_keys.csv (sk_live_plain_key_by_mistake): key_sha256 must be the SHA-256",
    ),
    "unknown_api_key_account": (
        {},
        "api_keys.csv (" + "a" * 64 + "): account_id acct_ghost is not in accounts.csv",
    ),
    "unknown_plan": (
        {"prices.csv": ["ghost_price,ghost_plan,api_calls,,per_unit,,0.01,,,"]},
        "prices.csv (ghost_price): plan_id ghost_plan is not in plans.csv",
    ),
    "unknown_meter": (
        {"prices.csv": ["ghost_meter,payg,ghost,,per_unit,,0.01,,,"]},
        "prices.csv (ghost_meter): meter ghost is not in meters.csv",
    ),
    "duplicate_price": (
        {"prices.csv": ["dup_star,payg,api_calls,*,per_unit,,0.01,,,"]},
        "prices.csv (payg_calls): plan payg, meter api_calls and endpoint * already have price dup_star",
    ),
    "tier_gap": (
        {
            "prices.csv": ["gap_price,payg,compute_seconds,/gap,tiered,graduated,,,,"],
            "price_tiers.csv": ["gap_price,1,10,0,0", "gap_price,3,,0.1,0"],
        },
        "price_tiers.csv (gap_price tier 3): tier 3 follows tier 1",
    ),
    "up_to_not_increasing": (
        {
            "prices.csv": ["dec_price,payg,compute_seconds,/dec,tiered,volume,,,,"],
            "price_tiers.csv": ["dec_price,1,100,0,0", "dec_price,2,50,0.1,0", "dec_price,3,,0.1,0"],
        },
        "price_tiers.csv (dec_price tier 2): up_to 50",
    ),
    "open_tier_not_last": (
        {
            "prices.csv": ["open_price,payg,compute_seconds,/open,tiered,graduated,,,,"],
            "price_tiers.csv": ["open_price,1,,0,0", "open_price,2,100,0.1,0"],
        },
        "price_tiers.csv (open_price tier 1): only the last tier may have a blank up_to",
    ),
    "last_tier_not_open": (
        {},
        "price_tiers.csv (open_price tier 2): the last tier must have a blank up_to",
    ),
    "unknown_currency": (
        {"accounts.csv": ["acct_chf,Swiss,chf,,1,false"]},
        "accounts.csv (acct_chf): currency chf is not in currencies.csv",
    ),
    "currency_mismatch": (
        {"accounts.csv": ["acct_eur,Euro,eur,,1,false"], "account_plans.csv": ["acct_eur,payg,2026-01-01,"]},
        "account_plans.csv (acct_eur from 2026-01-01): account currency eur differs from plan payg currency usd",
    ),
    "unknown_account": (
        {
            "account_plans.csv": ["acct_ghost,payg,2026-01-01,"],
            "credit_grants.csv": ["g_ghost,acct_ghost,5,2026-01-01,"],
        },
        "account_plans.csv (acct_ghost from 2026-01-01): account_id acct_ghost is not in accounts.csv",
    ),
    "unknown_account_in_grant": (
        {},
        "credit_grants.csv (g_ghost): account_id acct_ghost is not in accounts.csv",
    ),
    "unknown_plan_in_history": (
        {"account_plans.csv": ["acct_0007,ghost_plan,2026-01-01,2026-02-05"]},
        "account_plans.csv (acct_0007 from 2026-01-01): plan_id ghost_plan is not in plans.csv",
    ),
    "overlapping_plans": (
        {"account_plans.csv": ["acct_0001,payg,2026-03-01,"]},
        "account_plans.csv (acct_0001 from 2026-01-01): plan pro overlaps plan payg from 2026-03-01",
    ),
    "anchor_day": (
        {"accounts.csv": ["acct_29,Late anchor,usd,,29,false"]},
        "accounts.csv (acct_29): billing_anchor_day 29 is not between 1 and 28",
    ),
}


@pytest.fixture(scope="module")
def broken_build(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    from orchestration.code_location.resources import dbt_executable, stage_catalog

    root = tmp_path_factory.mktemp("broken")
    catalog = root / "catalog"
    shutil.copytree(SEEDS, catalog)
    for additions, _ in BROKEN_ROWS.values():
        for name, rows in additions.items():
            with (catalog / name).open("a", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
    events = root / "events"
    events.mkdir()
    env = {
        **os.environ,
        "USAGE_BILLING_CATALOG": str(catalog),
        "USAGE_BILLING_DUCKDB": str(root / "warehouse.duckdb"),
        "USAGE_BILLING_EVENTS": str(events) + "/**/*",
    }
    saved = os.environ.get("USAGE_BILLING_CATALOG")
    os.environ["USAGE_BILLING_CATALOG"] = str(catalog)
    try:
        env["USAGE_BILLING_CATALOG"] = stage_catalog()
    finally:
        if saved is None:
            os.environ.pop("USAGE_BILLING_CATALOG")
        else:
            os.environ["USAGE_BILLING_CATALOG"] = saved
    result = subprocess.run(
        [dbt_executable(), "build", "--select", "+int_catalog_errors+", "--profiles-dir", str(REPO_ROOT)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    # Leave the manifest as the session fixture parsed it (sample catalog) for the tests that follow.
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(REPO_ROOT)], cwd=REPO_ROOT, check=True
    )
    return result


def test_broken_catalog_fails_the_build_before_pricing(broken_build: subprocess.CompletedProcess) -> None:
    out = broken_build.stdout + broken_build.stderr
    assert broken_build.returncode != 0
    assert "The pricing catalog has" in out
    # No invoice is priced from a broken catalog: everything downstream is skipped.
    for model in ("int_invoice_lines_priced", "fct_invoices", "fct_invoice_lines"):
        assert f"SKIP relation intermediate.{model}" in out or f"SKIP relation marts.{model}" in out, model


@pytest.mark.parametrize("rule", sorted(BROKEN_ROWS))
def test_catalog_error_names_the_row(broken_build: subprocess.CompletedProcess, rule: str) -> None:
    out = broken_build.stdout + broken_build.stderr
    assert BROKEN_ROWS[rule][1] in out, out[-4000:]


def test_sample_catalog_has_no_errors(tmp_path: Path) -> None:
    """The bundled catalog passes every rule (the whole build on it runs in the README's test command);
    here only the validation query, against a freshly seeded warehouse."""
    from orchestration.code_location.resources import dbt_executable

    env = {**os.environ, "USAGE_BILLING_DUCKDB": str(tmp_path / "warehouse.duckdb")}
    env.pop("USAGE_BILLING_CATALOG", None)
    result = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--select",
            "+int_catalog_errors",
            "--indirect-selection",
            "cautious",
            "--profiles-dir",
            str(REPO_ROOT),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    import duckdb

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from intermediate.int_catalog_errors").fetchone() == (0,)
    finally:
        con.close()


def test_plain_dbt_seed_refuses_an_absolute_catalog_path(tmp_path: Path) -> None:
    """With an absolute seed path dbt would write each seed's compiled copy over the user's CSV (blanking
    it); a plain `dbt seed` must stop before any seed runs and leave the files as they were."""
    from orchestration.code_location.resources import dbt_executable

    catalog = tmp_path / "catalog"
    shutil.copytree(SEEDS, catalog)
    before = {p.name: p.read_bytes() for p in catalog.iterdir()}
    env = {
        **os.environ,
        "USAGE_BILLING_CATALOG": str(catalog),
        "USAGE_BILLING_DUCKDB": str(tmp_path / "warehouse.duckdb"),
    }
    result = subprocess.run(
        [
            dbt_executable(),
            "seed",
            "--profiles-dir",
            str(REPO_ROOT),
            "--target-path",
            str(tmp_path / "target"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"USAGE_BILLING_CATALOG={catalog} is an absolute path" in result.stdout
    assert {p.name: p.read_bytes() for p in catalog.iterdir()} == before
