"""Raw usage event files: the upstream asset every dbt model descends from."""

import os
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.events import intake
from orchestration.warehouse.project import REPO_ROOT, duckdb_path, events_glob, on_duckdb
from orchestration.warehouse.warehouse_lock import step_lock


def list_event_files(pattern: str | None = None) -> list[str]:
    """Event files the glob matches, as dbt's staging models list them (orchestration/events/intake.py);
    a relative glob is relative to the repository root, where dbt runs."""
    pattern = pattern or events_glob()
    if not intake.object_scheme(pattern) and not os.path.isabs(pattern):
        pattern = os.path.join(REPO_ROOT, pattern)
    return intake.list_event_files(pattern)


def gateway_log_files() -> dict[str, str]:
    """The files of the catalog's gateway-log sources (event_sources.csv, docs/gateway_logs.md), by the
    name staging gives them (`<file>#<source_id>`); a relative glob is relative to the repository root."""
    from orchestration.warehouse.catalog_state import catalog_dir

    files = {}
    for source_id, glob in intake.event_source_globs(catalog_dir()):
        if not intake.object_scheme(glob) and not os.path.isabs(glob):
            glob = os.path.join(REPO_ROOT, glob)
        for path in intake.list_files(glob):
            files[f"{path}#{source_id}"] = path
    return files


def loaded_files(db_path: Path | None = None) -> set[str]:
    """The files the staging model has already loaded (none before the first build)."""
    db_path = db_path or duckdb_path()
    if not db_path.exists():
        return set()
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'staging' and table_name = 'stg_raw_events__usage_events'"
        ).fetchone()[0]
        if not exists:
            return set()
        rows = con.execute("select distinct source_file from staging.stg_raw_events__usage_events").fetchall()
        return {f for (f,) in rows}
    finally:
        con.close()


@dg.asset(
    key="raw_events",
    group_name="raw_events",
    kinds={"file"},
    owners=["team:data-platform"],
    description=(
        "API usage event files (NDJSON, NDJSON.gz, Parquet) under USAGE_BILLING_EVENTS. "
        "Materializing records what is there; the dbt staging model loads each file once. "
        "The sensor `raw_events_sensor` starts a build when new files arrive."
    ),
)
def raw_events(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    error = intake.location_error(events_glob())
    if error:
        raise dg.Failure(error)
    if intake.object_scheme(events_glob()) and not on_duckdb():
        raise dg.Failure(
            f"USAGE_BILLING_EVENTS={intake.redact(events_glob())}: object storage on the Spark target needs "
            "the Hadoop s3a/gcs/abfs connector jars, which this project does not ship; build on DuckDB, or "
            'see docs/object_storage.md ("Spark")'
        )
    with step_lock(context):  # reads what staging loaded, while no one writes it
        return _scan(context)


def _scan(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    try:
        files = list_event_files()
    except intake.ObjectStoreError as e:  # wrong key, no permission, no such bucket: nothing is loaded
        raise dg.Failure(str(e)) from None
    sizes = {f: intake.file_size(f) for f in files}
    total_bytes = sum(sizes.values())
    loaded = loaded_files()
    new = [f for f in files if f not in loaded]
    context.log.info(
        f"Found {len(files)} event file(s), {total_bytes:,} bytes, matching {intake.redact(events_glob())!r}"
    )
    context.log.info(
        f"{len(new)} file(s) not loaded yet; dbt reads only these: " + (", ".join(new) if new else "none")
    )
    return dg.MaterializeResult(
        metadata={
            "glob": intake.redact(events_glob()),
            "file_count": len(files),
            "new_file_count": len(new),
            "total_bytes": total_bytes,
            "new_files": dg.MetadataValue.json({f: sizes[f] for f in new}),
        }
    )
