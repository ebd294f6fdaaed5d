"""Fixtures: a warehouse in tmp_path built through the real Dagster assets (in process)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT / "seeds"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dagster-dbt reads the manifest when the Definitions load: parse the project once."""
    from orchestration.resources import dbt_executable

    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(REPO_ROOT)],
        cwd=REPO_ROOT,
        check=True,
    )
    return REPO_ROOT / "target" / "manifest.json"


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

    def build(self, *, full_refresh: bool = False, as_of: str = "") -> None:
        import dagster as dg

        from orchestration.assets.dbt import usage_billing_dbt_assets
        from orchestration.assets.raw_events import raw_events
        from orchestration.resources import dbt_resource

        result = dg.materialize(
            [raw_events, usage_billing_dbt_assets],
            resources={"dbt": dbt_resource()},
            run_config={
                "ops": {
                    "usage_billing_dbt_assets": {"config": {"full_refresh": full_refresh, "as_of": as_of}}
                }
            },
            raise_on_error=True,
        )
        assert result.success

    def close(self, period: str, *, force: bool = False, now: str = "", grace_days: int = 3) -> dict:
        """Run close_job (the close asset, then the marts downstream of the ledger); return its metadata."""
        import dagster as dg

        from orchestration.definitions import defs

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
