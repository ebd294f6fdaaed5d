"""Gateway access logs as event sources (issue 21, docs/gateway_logs.md): the four sample logs under
sample/gateways/ (AWS API Gateway, Kong, Envoy, nginx), read unchanged through the mappings of
sample/gateways/catalog/event_sources.csv, bill as computed by hand; a re-delivered log is billed once;
no API key reaches the warehouse; a mapping that cannot be read fails the build naming its row.

Each sample log has the same eight requests on 2026-12-07 (sample/gateways/README.md):
  1 GET /v1/items/42          200   250,000,000 bytes
  2 GET /v1/search?q=llama    200   500,000,000 bytes
  3 GET /v1/search            404         1,000 bytes   (4xx: not billable, E4)
  4 GET /v1/items/7           500         2,000 bytes   (5xx: never billable)
  5 request 1 again (same request id)                   (a duplicate, E2)
  6 GET /v1/items/8           200   no request id       (quarantined: missing_field:<path>)
  7 GET /v1/items/3           200   unknown consumer or API key (unbilled_usage, E5)
  8 GET /v1/items/9           201   250,000,000 bytes
and two sources read each log: `<gateway>_calls` (meter api_calls) and `<gateway>_bytes` (data_gb, the
bytes sent in decimal GB). Plan `gateway` (base fee 0): api_calls 0.01 each, api_calls on /v1/items/{id}
0.05 each, data_gb 2.00 per GB.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT

GATEWAYS = REPO_ROOT / "sample" / "gateways"
LOGS = {
    "aws": "aws_apigateway/access-2026-12-07.log",
    "kong": "kong/file-log-2026-12-07.json",
    "envoy": "envoy/access-2026-12-07.log",
    "nginx": "nginx/access-2026-12-07.log",
}
REQUEST_ID_PATH = {"aws": "requestId", "kong": "request.id", "envoy": "x_request_id", "nginx": "request_id"}
SECRETS = ["aws-demo-key-0001", "envoy-demo-key-0001", "nginx-demo-key-0001", "kong-secret-do-not-store"]


def _use_gateway_catalog(warehouse, logs_dir: Path) -> None:
    """The sample gateway catalog in the warehouse's catalog folder, its globs pointed at logs_dir."""
    shutil.rmtree(warehouse.catalog_dir)
    shutil.copytree(GATEWAYS / "catalog", warehouse.catalog_dir)
    path = warehouse.catalog_dir / "event_sources.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["glob"] = row["glob"].replace("sample/gateways", str(logs_dir))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def gateway_warehouse(warehouse, tmp_path: Path):
    logs_dir = tmp_path / "gateways"
    for name in LOGS.values():
        (logs_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GATEWAYS / name, logs_dir / name)
    _use_gateway_catalog(warehouse, logs_dir)
    warehouse.build()
    return warehouse, logs_dir


def _invoice_lines(warehouse) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    rows = warehouse.query(
        "select account_id, price_id, quantity, amount from marts.fct_invoice_lines where price_id is not null"
    )
    return {(a, p): (q, amount) for a, p, q, amount in rows}


def test_gateway_logs_bill_as_computed_by_hand_once_and_keep_no_key(gateway_warehouse):
    warehouse, logs_dir = gateway_warehouse
    lines = _invoice_lines(warehouse)
    totals = dict(warehouse.query("select account_id, total from marts.fct_invoices"))
    for gateway in LOGS:
        account = f"acct_{gateway}"
        # Billable calls: lines 1, 2 and 8 (3 is a 404, 4 a 500, 5 a duplicate, 6 quarantined, 7 another
        # account). /v1/items/42 and /v1/items/9 match the template /v1/items/{id}: 2 × 0.05 = 0.10;
        # /v1/search (its query string dropped) takes the blank-endpoint price: 1 × 0.01 = 0.01.
        assert lines[(account, "gw_item_calls")] == (Decimal(2), Decimal("0.10")), gateway
        assert lines[(account, "gw_calls")] == (Decimal(1), Decimal("0.01")), gateway
        # Bytes of lines 1, 2 and 8: (250,000,000 + 500,000,000 + 250,000,000) / 10^9 = 1 GB × 2.00 = 2.00.
        assert lines[(account, "gw_data")] == (Decimal(1), Decimal("2.00")), gateway
        # 0.10 + 0.01 + 2.00 = 2.11 (base fee 0).
        assert totals[account] == Decimal("2.11"), gateway

    # Line 6 of each log, once per source, quarantined with the missing path; its staged text is the
    # mapped event (the gateway's line, with its API key, is not kept).
    quarantined = warehouse.query(
        "select source_file, line_number, reason, raw from marts.events_quarantined"
    )
    expected = sorted(
        (f"{logs_dir / LOGS[g]}#{g}_{kind}", 6, f"missing_field:{REQUEST_ID_PATH[g]}")
        for g in LOGS
        for kind in ("calls", "bytes")
    )
    assert sorted(row[:3] for row in quarantined) == expected
    assert all('"event_id":null' in row[3] for row in quarantined)

    # Line 7: Kong's unknown consumer as it is; an unlisted API key under its hash, never the key.
    unknown_hash = "unknown_api_key:" + hashlib.sha256(b"not-a-customer-key").hexdigest()[:16]
    unbilled = warehouse.query(
        "select account_id, meter, reason, event_count, units from marts.unbilled_usage order by all"
    )
    assert unbilled == [
        ("acct_unknown", "api_calls", "unknown_account", 1, Decimal(1)),
        # Line 7 sent 4,000 bytes: 0.000004 GB.
        ("acct_unknown", "data_gb", "unknown_account", 1, Decimal("0.000004")),
        (unknown_hash, "api_calls", "unknown_account", 3, Decimal(3)),
        (unknown_hash, "data_gb", "unknown_account", 3, Decimal("0.000012")),
    ]

    # E3 per staged file: 8 rows read = 6 kept + 1 duplicate + 1 quarantined.
    reconciliation = warehouse.query(
        "select rows_read, rows_valid, rows_duplicate, rows_quarantined from marts.event_reconciliation"
    )
    assert sorted(reconciliation) == [(8, 6, 1, 1)] * 8

    _redelivered_log_is_billed_once(warehouse, logs_dir)
    _no_key_is_stored(warehouse)


def _redelivered_log_is_billed_once(warehouse, logs_dir: Path) -> None:
    before = warehouse.query("select account_id, total from marts.fct_invoices order by all")
    # The same Kong log delivered again under another name: every request id is already kept.
    again = logs_dir / "kong" / "file-log-2026-12-07.redelivered.json"
    shutil.copyfile(logs_dir / LOGS["kong"], again)
    warehouse.build()
    assert warehouse.query("select account_id, total from marts.fct_invoices order by all") == before
    redelivered = warehouse.query(
        "select rows_read, rows_valid, rows_duplicate, rows_quarantined from marts.event_reconciliation"
        " where source_file like ?",
        [f"{again}#%"],
    )
    # 8 rows: the 7 with a request id are duplicates of the first delivery; line 6 is quarantined again.
    assert sorted(redelivered) == [(8, 0, 7, 1)] * 2


def _no_key_is_stored(warehouse) -> None:
    """No API key in any text column of any table or view of the warehouse."""
    columns = warehouse.query(
        "select table_schema, table_name, column_name from information_schema.columns"
        " where data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog')"
    )
    checks = [
        f'select \'{schema}.{table}.{column}\' from "{schema}"."{table}" where contains("{column}", $secret)'
        for schema, table, column in columns
    ]
    assert len(checks) > 100  # every staging, intermediate and mart table
    for secret in SECRETS:
        con = duckdb.connect(str(warehouse.db_path), read_only=True)
        try:
            found = con.execute(" union all ".join(checks), {"secret": secret}).fetchall()
        finally:
            con.close()
        assert found == [], (secret, found)


def test_a_mapping_that_cannot_be_read_fails_naming_its_row(warehouse, tmp_path: Path):
    from orchestration.code_location.resources import dbt_executable

    logs_dir = tmp_path / "gateways"
    (logs_dir / "nginx").mkdir(parents=True)
    shutil.copyfile(GATEWAYS / LOGS["nginx"], logs_dir / LOGS["nginx"])
    _use_gateway_catalog(warehouse, logs_dir)
    path = warehouse.catalog_dir / "event_sources.csv"
    path.write_text(path.read_text().replace("msec,epoch_seconds", "msec,epoch_minutes"))
    env = {
        "USAGE_BILLING_EVENTS": str(warehouse.events_dir) + "/*",
        "USAGE_BILLING_DUCKDB": str(warehouse.db_path),
        "USAGE_BILLING_CATALOG": str(warehouse.catalog_dir),
    }
    run = subprocess.run(
        [dbt_executable(), "build", "--profiles-dir", str(REPO_ROOT), "--target-path", str(tmp_path / "t")]
        + ["--vars", "{catalog_is_a_scratch_copy: true}", "--select", "+stg_raw_events__usage_events"],
        cwd=REPO_ROOT,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert (
        "event_sources.csv, source_id nginx_calls: timestamp_conversion epoch_minutes is not one of "
        "iso8601, epoch_seconds, epoch_milliseconds, clf" in run.stdout
    )
    # Nothing was loaded: the file checks failed before staging read a line.
    loaded = warehouse.query(
        "select count(*) from information_schema.tables where table_name = 'stg_raw_events__usage_events'"
    )
    assert loaded == [(0,)]
