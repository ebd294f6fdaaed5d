"""Has the pricing catalog changed since the last successful build of this warehouse?

The catalog (the dbt seeds, CONTRACT.md §2) and the data tests on them are a third of the dbt graph, yet
they change only when someone edits a CSV. The dbt asset therefore builds them only when the catalog
changed, and tells the models so with the dbt var `catalog_changed` (the incremental rollups recompute in
full when it is true, so that open invoices are re-priced).

One rule says what "changed" means (`catalog_fingerprint`): the SHA-256 of every CSV dbt seeds from
(name and bytes) and of the files that configure the seeds (column types, tests). A successful build
stores the fingerprint of the catalog it loaded in `catalog.catalog_fingerprint` (macros/catalog_state.sql);
every build or seed run deletes it first, so a failed, killed or plain `dbt build` (which passes no
fingerprint) leaves none, and the next build reloads and re-tests the catalog. `catalog_changed` is false
only when the stored fingerprint equals the current one and the build is not a full refresh.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from orchestration.warehouse.project import REPO_ROOT

FINGERPRINT_TABLE = "catalog.catalog_fingerprint"
# Besides the CSV files, what changes the seeds' tables or their tests.
SEED_CONFIG_FILES = ("dbt_project.yml", "models/catalog/_catalog__seeds.yml")


def catalog_dir() -> Path:
    """The folder dbt seeds from (dbt_project.yml `seed-paths`), as the asset hands it to dbt."""
    return (REPO_ROOT / os.environ.get("USAGE_BILLING_CATALOG", "seeds")).resolve()


def catalog_fingerprint(catalog: Path | None = None) -> str:
    """SHA-256 over the catalog's CSV files (sorted relative names, each with its length and bytes) and the
    seeds' configuration files: any changed byte, added or removed file gives another fingerprint."""
    catalog = catalog or catalog_dir()
    digest = hashlib.sha256()
    files = [("catalog", p.relative_to(catalog).as_posix(), p) for p in catalog.rglob("*.csv") if p.is_file()]
    files.sort(key=lambda f: f[1])
    files += [("config", name, REPO_ROOT / name) for name in SEED_CONFIG_FILES]
    for kind, name, path in files:
        data = path.read_bytes() if path.is_file() else b""
        digest.update(f"{kind}\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def stored_fingerprint(db_path: Path) -> str | None:
    """The fingerprint the last successful build of this DuckDB warehouse loaded; None when there is none
    (a new warehouse, or the last build failed or was not run by the asset)."""
    if not db_path.exists():
        return None
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        row = con.execute(f"select max(fingerprint) from {FINGERPRINT_TABLE}").fetchone()
    except duckdb.CatalogException:  # no build has stored one yet
        return None
    finally:
        con.close()
    return row[0] if row else None


def catalog_vars(db_path: Path | None, *, full_refresh: bool) -> dict[str, Any]:
    """The dbt vars of a build: `catalog_changed` and the `catalog_fingerprint` the build stores if it
    succeeds. Without a DuckDB path to read the stored fingerprint from, the catalog counts as changed."""
    current = catalog_fingerprint()
    changed = full_refresh or db_path is None or stored_fingerprint(db_path) != current
    return {"catalog_changed": changed, "catalog_fingerprint": current}


# dbt arguments that leave out the seeds and the tests on seeds only (`cautious`: a test that also reads a
# model, such as a relationship from an invoice line to a price, still runs).
SKIP_CATALOG_ARGS = ("--exclude", "resource_type:seed", "--indirect-selection", "cautious")


def seed_test_names(manifest: Mapping[str, Any]) -> set[str]:
    """The data tests whose every parent is a seed: those `catalog_exclusion` leaves out."""
    nodes = manifest.get("nodes", {})
    seeds = {uid for uid, node in nodes.items() if node["resource_type"] == "seed"}
    return {
        node["name"]
        for node in nodes.values()
        if node["resource_type"] == "test"
        and node["depends_on"]["nodes"]
        and set(node["depends_on"]["nodes"]) <= seeds
    }
