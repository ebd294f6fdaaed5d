"""Raw usage event files: the upstream asset every dbt model descends from."""

import glob
import os

import dagster as dg

from orchestration.project import REPO_ROOT, events_glob

EVENT_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz", ".parquet")


def list_event_files(pattern: str | None = None) -> list[str]:
    """Event files the glob matches, as dbt's staging model lists them (same suffix rule)."""
    pattern = pattern or events_glob()
    root = pattern if os.path.isabs(pattern) else os.path.join(REPO_ROOT, pattern)
    return sorted(p for p in glob.glob(root, recursive=True) if p.lower().endswith(EVENT_SUFFIXES))


@dg.asset(
    key="raw_events",
    group_name="raw_events",
    kinds={"file"},
    description=(
        "API usage event files (NDJSON, NDJSON.gz, Parquet) under USAGE_BILLING_EVENTS. "
        "Materializing records what is there; the dbt staging model loads each file once."
    ),
)
def raw_events(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    files = list_event_files()
    total_bytes = sum(os.path.getsize(f) for f in files)
    context.log.info(f"Found {len(files)} event file(s), {total_bytes:,} bytes, matching {events_glob()!r}")
    return dg.MaterializeResult(
        metadata={
            "glob": events_glob(),
            "file_count": len(files),
            "total_bytes": total_bytes,
        }
    )
