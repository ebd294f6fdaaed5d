"""Events in object storage (issue 21): an s3:// location, served by a real S3-API server (moto's, on
127.0.0.1), builds the same marts as the same files on local disk; objects load once; an object
overwritten after its load is reported and never billed twice; a wrong secret fails the build with one
line that names the location and not the secret, and loads nothing.

One moto server and three builds for the whole module (CI time): the local and the S3 warehouse of the
same files, then one incremental S3 build. Credentials reach the builds only through the environment
given to them (monkeypatch or the subprocess's env), never through the test process's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO_ROOT, SEEDS, Warehouse

BUCKET = "billing"
PREFIX = f"s3://{BUCKET}/events/"
SECRET = "s3cr3t-Zq9-usage-billing-do-not-print"
WRONG_SECRET = "wr0ng-K7x-usage-billing-never-print"
MARTS = {
    "fct_invoices": "select * exclude (invoice_id) from marts.fct_invoices",
    "fct_invoice_lines": "select * exclude (invoice_line_id, invoice_id) from marts.fct_invoice_lines",
    "fct_account_period_usage": "select * from marts.fct_account_period_usage",
    "unbilled_usage": "select * from marts.unbilled_usage",
    "events_quarantined": "select source_file, line_number, raw, reason from marts.events_quarantined",
    "event_reconciliation": "select * exclude (loaded_at) from marts.event_reconciliation",
    "event_files_rejected": "select source_file, reason, is_damaged from marts.event_files_rejected",
}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 (and IAM) server on a free port; the environment a build needs to reach it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        yield env
    finally:
        server.stop()


def _client(env: dict[str, str], service: str = "s3"):
    import boto3

    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def _event_tree(root: Path) -> None:
    """The bundled sample under two prefixes, a file with bad lines and a Parquet file."""
    for f in sorted((REPO_ROOT / "sample" / "events").glob("*.ndjson.gz")):
        folder = root / ("2026-q1/late" if "2026-03" in f.name else "2026-q1")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, folder / f.name)
    good = {"account_id": "acct_0001", "timestamp": "2026-02-03T10:00:00Z", "endpoint": "/v1/users"}
    (root / "odd").mkdir()
    (root / "odd" / "bad_lines.ndjson").write_bytes(
        json.dumps(dict(good, event_id="bad-a")).encode()
        + b'\n{"account_id":"\xff\xfe","timestamp":"x"}\n{not json\n'
        + json.dumps(dict(good, event_id="bad-b")).encode()
        + b"\n"
    )
    rows = [dict(good, event_id=f"pq-{i}", units=str(i)) for i in range(3)] + [
        dict(good, event_id="pq-bad", units="-1")
    ]
    pq.write_table(pa.Table.from_pylist(rows), root / "odd" / "rows.parquet")


def _upload(env: dict[str, str], root: Path) -> None:
    s3 = _client(env)
    s3.create_bucket(Bucket=BUCKET)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        s3.upload_file(str(path), BUCKET, "events/" + path.relative_to(root).as_posix())
    s3.put_object(Bucket=BUCKET, Key="elsewhere/not-listed.ndjson", Body=b"{}\n")


def _warehouse(root: Path, events: str, env: dict[str, str]) -> Warehouse:
    """Build one warehouse in process (the Dagster assets, dbt as a subprocess) with this environment."""
    catalog_dir = root / "catalog"
    shutil.copytree(SEEDS, catalog_dir)
    (root / "dagster_home").mkdir()
    wh = Warehouse(
        root=root, events_dir=root / "events", db_path=root / "warehouse.duckdb", catalog_dir=catalog_dir
    )
    wh.events = events  # type: ignore[attr-defined]
    wh.env = {  # type: ignore[attr-defined]
        "USAGE_BILLING_EVENTS": events,
        "USAGE_BILLING_DUCKDB": str(wh.db_path),
        "USAGE_BILLING_CATALOG": str(catalog_dir),
        "DAGSTER_HOME": str(root / "dagster_home"),
        **env,
    }
    _build(wh)
    return wh


def _build(wh: Warehouse) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in wh.env.items():  # type: ignore[attr-defined]
            mp.setenv(name, value)
        wh.build()


@pytest.fixture(scope="module")
def warehouses(
    tmp_path_factory: pytest.TempPathFactory, s3_server: dict[str, str], dbt_manifest: Path
) -> tuple[Warehouse, Warehouse]:
    local_root = tmp_path_factory.mktemp("local")
    _event_tree(local_root / "events")
    _upload(s3_server, local_root / "events")
    local = _warehouse(local_root, str(local_root / "events") + "/**/*", {})
    s3 = _warehouse(tmp_path_factory.mktemp("s3"), PREFIX + "**/*", s3_server)
    return local, s3


def _rows(wh: Warehouse, sql: str, local_prefix: str | None = None) -> list[tuple]:
    rows = wh.query(sql)
    if local_prefix:
        rows = [
            tuple(
                PREFIX + v[len(local_prefix) :] if isinstance(v, str) and v.startswith(local_prefix) else v
                for v in r
            )
            for r in rows
        ]
    return sorted(rows, key=repr)


def test_s3_build_equals_the_local_build(warehouses: tuple[Warehouse, Warehouse]) -> None:
    local, s3 = warehouses
    local_prefix = str(local.root / "events") + "/"
    files = s3.query("select source_file, status from staging.stg_raw_events__event_files order by 1")
    assert [f for f, _ in files] == sorted(
        PREFIX + p.relative_to(local.root / "events").as_posix()
        for p in (local.root / "events").rglob("*")
        if p.is_file()
    )
    assert dict(files)[PREFIX + "odd/bad_lines.ndjson"] == "lines"
    for name, sql in MARTS.items():
        assert _rows(s3, sql) == _rows(local, sql, local_prefix), name
    # The invoices themselves (their ids hash the account and period only).
    assert s3.query("select invoice_id, total from marts.fct_invoices order by 1") == local.query(
        "select invoice_id, total from marts.fct_invoices order by 1"
    )
    # Conservation per object (E3) holds, and the sample's totals are the README's.
    for _, read, valid, duplicate, _, quarantined in s3.query(
        "select source_file, rows_read, rows_valid, rows_duplicate, rows_conflict, rows_quarantined "
        "from marts.event_reconciliation"
    ):
        assert read == valid + duplicate + quarantined


def test_bad_lines_and_parquet_objects_quarantine_like_local_files(
    warehouses: tuple[Warehouse, Warehouse],
) -> None:
    local, s3 = warehouses
    sql = "select source_file, line_number, reason from marts.events_quarantined where source_file like '%/odd/%'"
    got = _rows(s3, sql)
    assert got == _rows(local, sql, str(local.root / "events") + "/")
    assert got == [
        (PREFIX + "odd/bad_lines.ndjson", 2, "invalid_utf8"),
        (PREFIX + "odd/bad_lines.ndjson", 3, "not_json"),
        (PREFIX + "odd/rows.parquet", 4, "invalid_units"),
    ]
    # The side file of the object's lines is on local disk, beside the warehouse.
    ((sidecar,),) = s3.query(
        "select sidecar from staging.stg_raw_events__event_files where source_file like '%bad_lines.ndjson'"
    )
    assert sidecar.startswith(str(s3.db_path)) and Path(sidecar).exists()


def test_objects_load_once_and_an_overwritten_object_is_reported(
    warehouses: tuple[Warehouse, Warehouse], s3_server: dict[str, str]
) -> None:
    _, s3 = warehouses
    per_file = "select source_file, count(*) from staging.stg_raw_events__usage_events group by 1"
    before = dict(s3.query(per_file))
    client = _client(s3_server)
    new = {
        "event_id": "new-1",
        "account_id": "acct_0001",
        "timestamp": "2026-03-20T10:00:00Z",
        "endpoint": "/v1/users",
    }
    client.put_object(
        Bucket=BUCKET, Key="events/2026-q1/late/new.ndjson", Body=json.dumps(new).encode() + b"\n"
    )
    overwritten = PREFIX + "odd/bad_lines.ndjson"
    twice = {**new, "event_id": "overwrite-1", "units": 1000}
    client.put_object(
        Bucket=BUCKET, Key="events/odd/bad_lines.ndjson", Body=json.dumps(twice).encode() + b"\n"
    )

    _build(s3)

    after = dict(s3.query(per_file))
    assert after == {**before, PREFIX + "2026-q1/late/new.ndjson": 1}  # re-listed objects not read again
    assert s3.query(
        "select count(*) from intermediate.int_usage_events_deduplicated where event_id = 'overwrite-1'"
    ) == [(0,)]
    ((reason, damaged, detail),) = s3.query(
        "select reason, is_damaged, detail from marts.event_files_rejected where source_file = ?",
        [overwritten],
    )
    assert (reason, damaged) == ("changed_after_load", False)
    assert "overwritten after it was loaded" in detail
    assert s3.query(
        "select status from staging.stg_raw_events__event_files where source_file = ? order by checked_at",
        [overwritten],
    ) == [("lines",), ("changed",)]
    from orchestration.code_location.checks import event_files_rejected

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("USAGE_BILLING_DUCKDB", str(s3.db_path))
        check = event_files_rejected()
    assert not check.passed and check.metadata["changed_objects"].value == 1
    assert s3.query(
        "select count(*) from intermediate.int_usage_events_deduplicated where event_id = 'new-1'"
    ) == [(1,)]


def test_wrong_secret_fails_in_one_line_without_the_secret_and_loads_nothing(
    tmp_path: Path, warehouses: tuple[Warehouse, Warehouse], s3_server: dict[str, str]
) -> None:
    import moto.settings

    iam = _client(s3_server, "iam")
    iam.create_user(UserName="billing")
    key = iam.create_access_key(UserName="billing")["AccessKey"]
    db = tmp_path / "warehouse.duckdb"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("USAGE_BILLING_", "DAGSTER_HOME", "AWS_"))
    }
    env.update(
        s3_server,
        PYTHONPATH=str(REPO_ROOT),
        AWS_ACCESS_KEY_ID=key["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=WRONG_SECRET,
        USAGE_BILLING_EVENTS=PREFIX + "**/*",
        USAGE_BILLING_DUCKDB=str(db),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
    )
    (tmp_path / "dagster_home").mkdir()
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on the server checks every signature
    try:
        run = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "build", "--quiet"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert WRONG_SECRET not in output and key["SecretAccessKey"] not in output
    lines = [
        line for line in run.stderr.splitlines() if f"USAGE_BILLING_EVENTS={PREFIX}**/*: cannot list" in line
    ]
    assert lines, run.stderr
    assert "signature" in lines[0].lower(), lines[0]
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            assert not con.execute(
                "select table_name from information_schema.tables where table_schema = 'staging'"
            ).fetchall()
        finally:
            con.close()


def test_listing_takes_names_literally_and_globs_like_local_paths(
    tmp_path: Path, s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.events import intake

    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    client = _client(s3_server)
    client.create_bucket(Bucket="globs")
    names = [
        "a.ndjson",
        "star*.ndjson",
        "q?.ndjson",
        "d/b.ndjson",
        "d/e/c.ndjson",
        ".hidden.ndjson",
        "d/.h/x.ndjson",
        "dir/",
    ]
    for name in names:
        client.put_object(Bucket="globs", Key="ev/" + name, Body=b"{}\n")
        if not name.endswith("/"):
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"{}\n")
    for pattern in ("**/*", "*", "*/*", "d/**/*.ndjson", "q?.ndjson", "star*.ndjson"):
        objects = [p[len("s3://globs/ev/") :] for p in intake.list_files("s3://globs/ev/" + pattern)]
        files = [p[len(str(tmp_path)) + 1 :] for p in intake.list_files(f"{tmp_path}/{pattern}")]
        assert objects == files, pattern
    # Credentials in the URL are refused and never repeated; unknown schemes are named.
    with pytest.raises(
        ValueError, match=r"s3://\*\*\*@globs/ev/\*: credentials in the location are refused"
    ) as e:
        intake.list_files("s3://AKIA:hunter2@globs/ev/*")
    assert "hunter2" not in str(e.value)
    assert "the hdfs:// scheme is not supported" in intake.location_error("hdfs://n/ev/*")
    with pytest.raises(
        intake.ObjectStoreError, match=r"s3://no-such-bucket/\*\*/\*: cannot list the objects"
    ):
        intake.list_files("s3://no-such-bucket/**/*")


def test_spark_target_refuses_object_storage_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from orchestration.code_location.assets.raw_events import raw_events

    monkeypatch.setenv("USAGE_BILLING_TARGET", "spark")
    monkeypatch.setenv("USAGE_BILLING_EVENTS", PREFIX + "**/*")
    result = dg.materialize([raw_events], raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert (
        "object storage on the Spark target needs the Hadoop s3a" in description and "\n" not in description
    )


def test_gateway_logs_in_s3_bill_like_the_same_logs_on_disk(
    tmp_path: Path, warehouses: tuple[Warehouse, Warehouse], s3_server: dict[str, str]
) -> None:
    """The Kong and nginx sample logs (sample/gateways/, docs/gateway_logs.md) read from the bucket
    through their event_sources.csv globs, the events location itself on local disk: each bills 2.11
    (tests/python/test_gateway_logs.py has the arithmetic)."""
    import csv

    client = _client(s3_server)
    logs = {"kong": "kong/file-log-2026-12-07.json", "nginx": "nginx/access-2026-12-07.log"}
    for name in logs.values():
        client.upload_file(str(REPO_ROOT / "sample" / "gateways" / name), BUCKET, "gateways/" + name)
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(REPO_ROOT / "sample" / "gateways" / "catalog", catalog_dir)
    sources = catalog_dir / "event_sources.csv"
    with sources.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source_id"].split("_")[0] in logs]
    for row in rows:
        row["glob"] = row["glob"].replace("sample/gateways", f"s3://{BUCKET}/gateways")
    with sources.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "events").mkdir()
    (tmp_path / "dagster_home").mkdir()
    wh = Warehouse(
        root=tmp_path, events_dir=tmp_path / "events", db_path=tmp_path / "wh.duckdb", catalog_dir=catalog_dir
    )
    wh.env = {  # type: ignore[attr-defined]
        "USAGE_BILLING_EVENTS": str(tmp_path / "events") + "/*",
        "USAGE_BILLING_DUCKDB": str(wh.db_path),
        "USAGE_BILLING_CATALOG": str(catalog_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        **s3_server,
    }
    _build(wh)
    # The catalog's other two accounts have no usage here: base-fee-only invoices of 0 (P2).
    assert wh.query("select account_id, total from marts.fct_invoices order by 1") == [
        ("acct_aws", Decimal(0)),
        ("acct_envoy", Decimal(0)),
        ("acct_kong", Decimal("2.11")),
        ("acct_nginx", Decimal("2.11")),
    ]
    assert sorted(r[0] for r in wh.query("select source_file from marts.event_reconciliation")) == sorted(
        f"s3://{BUCKET}/gateways/{logs[r['source_id'].split('_')[0]]}#{r['source_id']}" for r in rows
    )
