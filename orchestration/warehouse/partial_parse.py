"""dbt's partial parsing for builds whose `--vars` differ from one another.

dbt re-parses the whole project (about 5 s here, more than half of a build over no new events) when
anything it hashes differs from the state it saved in `partial_parse.msgpack`: the files, the profile
(the warehouse's path), and the command-line `--vars`. dagster-dbt gives each invocation a fresh target
folder and seeds it with `target/partial_parse.msgpack`, the state of the last `dbt parse`, which had no
vars; the dbt asset passes vars on every build (`catalog_changed`, `catalog_fingerprint`, `as_of`), so
every build would re-parse. The asset therefore keeps the state each invocation saved, one per
environment and vars (the catalog's fingerprint aside, so a catalog edit costs one re-parse, not a new
state), under `target/partial_parse/`, and hands it to the next invocation with the same ones. dbt still
checks every file against it: a stale state costs a re-parse, never a wrong manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestration.warehouse.project import target_dir

STATE_FILE = "partial_parse.msgpack"
STATES_KEPT = 16
# What dbt's state depends on besides the files: the environment the profile and dbt_project.yml read.
ENVIRONMENT = (
    "USAGE_BILLING_EVENTS",
    "USAGE_BILLING_DUCKDB",
    "USAGE_BILLING_CATALOG",
    "USAGE_BILLING_TARGET",
    "USAGE_BILLING_DBT_THREADS",
    "USAGE_BILLING_DUCKDB_MEMORY_LIMIT",
    "USAGE_BILLING_SPARK_DIR",
)


def states_dir() -> Path:
    return target_dir() / "partial_parse"


def state_key(dbt_vars: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in dbt_vars.items() if k != "catalog_fingerprint"}
    environment = {name: os.environ.get(name, "") for name in ENVIRONMENT}
    text = json.dumps([kept, environment], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_target_path(step_name: str, run_id: str) -> Path:
    """A target folder of its own for one dbt invocation (named as dagster-dbt names them)."""
    return target_dir() / f"{step_name}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


def restore(target_path: Path, dbt_vars: Mapping[str, Any]) -> bool:
    """Put the saved state for these vars into the invocation's target folder; False if there is none
    (dagster-dbt then copies `target/partial_parse.msgpack`)."""
    saved = states_dir() / f"{state_key(dbt_vars)}.msgpack"
    target_path.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(saved, target_path / STATE_FILE)
    except OSError:  # none saved yet, or pruned meanwhile by another process
        return False
    with contextlib.suppress(OSError):
        os.utime(saved)  # recently used: kept by prune()
    return True


def save(target_path: Path, dbt_vars: Mapping[str, Any]) -> None:
    """Keep the state the invocation wrote, for the next one with the same vars and environment."""
    written = target_path / STATE_FILE
    if not written.is_file():
        return
    folder = states_dir()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{uuid.uuid4().hex}.tmp"
    shutil.copyfile(written, partial)
    os.replace(partial, folder / f"{state_key(dbt_vars)}.msgpack")  # readers see a whole file
    prune(folder)


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile
        return 0.0


def prune(folder: Path, keep: int = STATES_KEPT) -> None:
    """Keep the most recently used states (one per warehouse and vars; tests make many warehouses)."""
    states = sorted(folder.glob("*.msgpack"), key=_last_used, reverse=True)
    for stale in states[keep:]:
        with contextlib.suppress(OSError):
            stale.unlink()
