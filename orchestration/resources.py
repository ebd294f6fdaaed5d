"""Resources shared by the assets: the dbt CLI bound to this repository's project."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from orchestration.project import dbt_project


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's virtualenv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(dbt_project.profiles_dir),
        dbt_executable=dbt_executable(),
    )


def release_dbt_duckdb_connections() -> None:
    """Close the DuckDB database that dbt-duckdb keeps open in this process.

    `fetch_row_counts()` queries the warehouse through an in-process dbt adapter, and dbt-duckdb
    keeps that database open in a class-level environment for the life of the process. Left open,
    it holds DuckDB's write lock, so the next `dbt build` subprocess (a second materialization in
    the same process, or the CLI's summary) could not open the file.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing to release
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
            DuckDBConnectionManager._ENV = None
