"""Fixtures: a warehouse in tmp_path built through the real Dagster assets (in process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# pytest-xdist runs the suite in several processes (scripts/test.sh): each gets a target folder of its own
# (manifest, partial-parse states, the staged catalog; orchestration.warehouse.project.target_dir), set before any
# test module imports orchestration, and inherited by the commands the tests start.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["DBT_TARGET_PATH"] = str(REPO_ROOT / "target" / "xdist" / os.environ["PYTEST_XDIST_WORKER"])

# Debian's Chromium (scripts/os_packages.sh) and the flags both browser tests start it with.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEEDS = REPO_ROOT / "seeds"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dagster-dbt reads the manifest when the Definitions load: parse the project once."""
    from orchestration.code_location.resources import dbt_executable
    from orchestration.warehouse.project import target_dir

    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(REPO_ROOT)],
        cwd=REPO_ROOT,
        check=True,
    )
    return target_dir() / "manifest.json"


@dataclass
class Warehouse:
    root: Path
    events_dir: Path
    db_path: Path
    catalog_dir: Path

    def write_events(self, name: str, lines: Iterable[str | dict]) -> Path:
        path = self.events_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for line in lines:
                f.write((json.dumps(line) if isinstance(line, dict) else line) + "\n")
        return path

    def build(self, *, full_refresh: bool = False, as_of: str = "", raise_on_error: bool = True):
        import dagster as dg

        from orchestration.code_location.assets.dbt import usage_billing_dbt_assets
        from orchestration.code_location.assets.raw_events import raw_events
        from orchestration.code_location.resources import dbt_resource

        result = dg.materialize(
            [raw_events, usage_billing_dbt_assets],
            resources={"dbt": dbt_resource()},
            run_config={
                "ops": {
                    "usage_billing_dbt_assets": {"config": {"full_refresh": full_refresh, "as_of": as_of}}
                }
            },
            raise_on_error=raise_on_error,
        )
        assert result.success or not raise_on_error
        return result

    def close(self, period: str, *, force: bool = False, now: str = "", grace_days: int = 3) -> dict:
        """Run close_job (the close asset, then the marts downstream of the ledger); return its metadata."""
        import dagster as dg

        from orchestration.code_location.definitions import defs

        config = {"force": force, "now": now, "grace_days": grace_days}
        result = defs.resolve_job_def("close_job").execute_in_process(
            run_config={"ops": {"close_billing_periods": {"config": config}}},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=True,
            partition_key=period,
        )
        assert result.success
        (materialization, *_) = result.asset_materializations_for_node("close_billing_periods")
        return {k: v.value for k, v in materialization.metadata.items()}

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.db_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def stage_events(tmp_path: Path, events_dir: Path, name: str, dbt_vars: dict) -> tuple[Path, str]:
    """`dbt run` of the staging events model (with the file checks it loads from) over the files in
    events_dir, with the given dbt vars, into tmp_path/<name>.duckdb: that path and dbt's log."""
    from orchestration.code_location.resources import dbt_executable

    db = tmp_path / f"{name}.duckdb"
    env = dict(
        os.environ,
        USAGE_BILLING_EVENTS=str(events_dir) + "/*",
        USAGE_BILLING_DUCKDB=str(db),
        USAGE_BILLING_CATALOG=str(SEEDS),
    )
    run = subprocess.run(
        [
            dbt_executable(),
            "run",
            "--select",
            "+stg_raw_events__usage_events",
            "--profiles-dir",
            str(REPO_ROOT),
            "--target-path",
            str(tmp_path / f"target_{name}"),
            "--vars",
            json.dumps(dbt_vars),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return db, run.stdout


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(SEEDS, catalog_dir)
    db_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("USAGE_BILLING_EVENTS", str(events_dir) + "/**/*")
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(db_path))
    monkeypatch.setenv("USAGE_BILLING_CATALOG", str(catalog_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("USAGE_BILLING_EXPORTS", str(tmp_path / "exports"))
    (tmp_path / "dagster_home").mkdir()
    return Warehouse(root=tmp_path, events_dir=events_dir, db_path=db_path, catalog_dir=catalog_dir)


def _reader_events() -> list[dict]:
    """Hand-made traffic for the readers' commands (statement, explain, simulate, review, metrics), priced
    against the sample catalog in January and February 2026. The expected figures are worked out by hand in
    the tests that use it."""

    def event(eid: str, account: str, ts: str, units: int | str = 1, **extra) -> dict:
        return {"event_id": eid, "account_id": account, "timestamp": ts, "units": units, **extra}

    events: list[dict] = []
    for month in ("01", "02"):
        # acct_0001 (pro): 250 /v1/ai/* calls a month, 10 a day on days 1-25 (Jan: 5-29) → pro_ai_calls.
        first_day = 5 if month == "01" else 1
        for i in range(250):
            day = first_day + i % 25
            events.append(
                event(
                    f"ai-{month}-{i}",
                    "acct_0001",
                    f"2026-{month}-{day:02d}T{i // 25:02d}:30:00Z",
                    endpoint="/v1/ai/chat",
                )
            )
    events += [
        event("tok-01", "acct_0001", "2026-01-10T12:00:00Z", 12_000_000, meter="tokens"),
        event("tok-02a", "acct_0001", "2026-02-03T12:00:00Z", 6_000_000, meter="tokens"),
        event("tok-02b", "acct_0001", "2026-02-17T12:00:00Z", 5_000_000, meter="tokens"),
        event("ent-01", "acct_0006", "2026-01-15T09:00:00Z", 12_000, endpoint="/v1/users"),
        event("ent-02", "acct_0006", "2026-02-15T09:00:00Z", 15_000, endpoint="/v1/users"),
        event("min-02", "acct_0007", "2026-02-10T09:00:00Z", 1_000, endpoint="/v1/users"),
        event("pkg-01", "acct_0011", "2026-01-12T09:00:00Z", 250, endpoint="/v1/search"),
        event("lim-01", "acct_0011", "2026-01-12T10:00:00Z", 2_100, endpoint="/v1/users"),
        event("chg-01", "acct_0003", "2026-01-20T09:00:00Z", 60_000, endpoint="/v1/users"),
        event("pre-01", "acct_0010", "2026-01-25T09:00:00Z", 5_000, endpoint="/v1/users"),
    ]
    # Not billable (5xx): shown on the statement's chart, never priced.
    events += [
        event(f"err-{i}", "acct_0001", "2026-02-04T08:00:00Z", endpoint="/v1/ai/chat", status_code=500)
        for i in range(20)
    ]
    return events


@pytest.fixture(scope="session")
def readers_warehouse(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Warehouse:
    """One warehouse built once per session from _reader_events(); read-only for the tests using it."""
    root = tmp_path_factory.mktemp("readers")
    events_dir = root / "events"
    catalog_dir = root / "catalog"
    shutil.copytree(SEEDS, catalog_dir)
    wh = Warehouse(
        root=root, events_dir=events_dir, db_path=root / "warehouse.duckdb", catalog_dir=catalog_dir
    )
    events_dir.mkdir()
    wh.write_events("readers.ndjson", _reader_events())
    # Two bad lines in a file of four: a quarantine rate of 2 / 4 there (E1).
    wh.write_events(
        "bad.ndjson",
        [
            "{not json",
            {"account_id": "acct_0009", "timestamp": "2026-01-03"},
            {"event_id": "ok-1", "account_id": "acct_0009", "timestamp": "2026-01-03T10:00:00Z"},
            {"event_id": "ok-2", "account_id": "acct_0009", "timestamp": "2026-01-03T11:00:00Z"},
        ],
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("USAGE_BILLING_EVENTS", str(events_dir) + "/**/*")
        mp.setenv("USAGE_BILLING_DUCKDB", str(wh.db_path))
        mp.setenv("USAGE_BILLING_CATALOG", str(catalog_dir))
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        (root / "dagster_home").mkdir()
        wh.build()
        # January closes (P13); then pro_ai_calls goes from 0.004 to 0.005 a call. February is priced at
        # the new price, and January's 250 calls get an adjustment of 250 × 0.001 = +0.25 (P14) on
        # acct_0001's February invoice, while January's final lines keep 0.004.
        wh.close("2026-01", force=True)
        prices = catalog_dir / "prices.csv"
        text = prices.read_text()
        assert "pro_ai_calls,pro,api_calls,/v1/ai/*,per_unit,,0.004," in text
        prices.write_text(text.replace("/v1/ai/*,per_unit,,0.004,", "/v1/ai/*,per_unit,,0.005,"))
        wh.build()
    return wh
