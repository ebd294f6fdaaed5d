"""The semantic layer: real `mf query` runs (MetricFlow over the DuckDB warehouse), checked against the marts."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO_ROOT, Warehouse


@pytest.fixture(scope="module", autouse=True)
def semantic_manifest(readers_warehouse: Warehouse) -> Path:
    """mf reads `target/semantic_manifest.json` under the project (it ignores DBT_TARGET_PATH, which names
    this test process's own target folder), and its relation names carry the warehouse file's name: parse
    the project there for the warehouse these tests query."""
    from orchestration.code_location.resources import dbt_executable

    env = {**os.environ, "USAGE_BILLING_DUCKDB": str(readers_warehouse.db_path)}
    env.pop("DBT_TARGET_PATH", None)
    target = REPO_ROOT / "target"
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--profiles-dir",
            str(REPO_ROOT),
            "--target-path",
            str(target),
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    return target / "semantic_manifest.json"


def _mf(wh: Warehouse, tmp_path: Path, metrics: str, group_by: str = "") -> list[dict[str, str]]:
    out = tmp_path / f"{metrics.replace(',', '_')}.csv"
    env = {**os.environ, "USAGE_BILLING_DUCKDB": str(wh.db_path), "DBT_PROFILES_DIR": str(REPO_ROOT)}
    args = [str(Path(sys.executable).with_name("mf")), "query", "--metrics", metrics, "--csv", str(out)]
    if group_by:
        args += ["--group-by", group_by]
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and out.exists(), result.stdout + result.stderr
    with out.open() as f:
        return list(csv.DictReader(f))


def test_metrics_match_the_marts(readers_warehouse: Warehouse, tmp_path: Path) -> None:
    wh = readers_warehouse
    rows = _mf(wh, tmp_path, "revenue,invoiced_accounts,average_revenue_per_account", "invoice__currency")
    got = {r["invoice__currency"]: r for r in rows}
    marts = wh.query(
        "select currency, sum(total), count(distinct account_id) from marts.fct_invoices group by 1 order by 1"
    )
    assert sorted(got) == [c for c, _, _ in marts]
    for currency, total, accounts in marts:
        assert Decimal(got[currency]["revenue"]) == total
        assert int(got[currency]["invoiced_accounts"]) == accounts
        # MetricFlow divides in floating point; the exact ratio rounded to 6 places must agree.
        assert abs(Decimal(got[currency]["average_revenue_per_account"]) - total / accounts) < Decimal(
            "0.000001"
        )
    # By hand: USD invoices of the readers' warehouse total 58.00 + 49.00 (acct_0001), 10.00 + 33.25
    # (acct_0003), 385.00 + 400.00 (acct_0006), 200.00 (acct_0007), 30.50 + 19.00 (acct_0011), and
    # 0.00 for the free, payg and prepaid accounts = 1,184.75.
    assert Decimal(got["usd"]["revenue"]) == Decimal("1184.75")

    # Billable units per meter = the billable usage mart, summed (sum meters).
    rows = _mf(wh, tmp_path, "billable_units", "daily_usage__meter")
    units = {r["daily_usage__meter"]: Decimal(r["billable_units"]) for r in rows}
    for meter, total in wh.query(
        "select meter, sum(units) from marts.fct_account_period_usage where meter in ('api_calls', 'tokens') group by 1"
    ):
        assert units[meter] == total, meter
    # tokens by hand: 12,000,000 in January + 6,000,000 + 5,000,000 in February.
    assert units["tokens"] == Decimal(23_000_000)

    # Active accounts per month: known, non-test accounts with billable usage.
    rows = _mf(wh, tmp_path, "active_accounts", "metric_time__month")
    active = {r["metric_time__month"][:7]: int(r["active_accounts"]) for r in rows}
    expected = dict(
        wh.query(
            """select strftime(usage_date, '%Y-%m'), count(distinct usage.account_id)
               from marts.fct_daily_usage as usage
               inner join catalog.accounts as accounts on usage.account_id = accounts.account_id
               where usage.is_billable and not accounts.is_test group by 1"""
        )
    )
    # By hand: January acct_0001, 0003, 0006, 0009, 0010, 0011 = 6; February acct_0001, 0006, 0007 = 3.
    assert active == expected == {"2026-01": 6, "2026-02": 3}

    # Quarantine rate: 2 bad lines of the 4 in bad.ndjson, over every row read.
    (row,) = _mf(wh, tmp_path, "quarantine_rate,rows_read,rows_quarantined")
    ((read, quarantined),) = wh.query(
        "select sum(rows_read), sum(rows_quarantined) from marts.event_reconciliation"
    )
    assert (int(row["rows_read"]), int(row["rows_quarantined"])) == (read, quarantined)
    assert quarantined == 2
    assert abs(Decimal(row["quarantine_rate"]) - Decimal(quarantined) / Decimal(read)) < Decimal("1e-9")
