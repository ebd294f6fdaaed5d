"""A dbt-duckdb plugin (profiles.yml `plugins:`) that gives the staging models the event-file intake of
``orchestration.events.intake`` as DuckDB functions:

- ``usage_billing_list_files(pattern)``: every file the events location matches, names taken literally;
- ``usage_billing_inspect_files(paths, known_sizes, known_checksums, reads, formats)``: how each new file
  is read (ok, lines, rejected, unsupported, unchanged), with the reason and the Parquet side file for
  ``lines``; the files are checked side by side, one thread per core (more for objects: waiting on the
  network). ``reads`` and ``formats`` are given for gateway logs (staged as ``<file>#<source>``), null
  for event files;
- ``usage_billing_file_versions(paths)``: (size, version) of listed objects, to report an object
  overwritten after it was loaded.

Side files go to the plugin's ``intake_dir`` (beside the warehouse); each run's are written afresh.
When the events location (the plugin's ``events``) or a gateway-log glob of the catalog's event_sources.csv
is object storage, its fsspec filesystem is registered
on the connection so that DuckDB reads the objects through it; local locations import nothing more.
Credentials are the storage SDK's own (environment, profile), never the profile's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.events import intake

VERSION_TYPE = "STRUCT(size_bytes BIGINT, version VARCHAR)"
INSPECTION_TYPE = (
    "STRUCT(source_file VARCHAR, status VARCHAR, reason VARCHAR, detail VARCHAR, size_bytes BIGINT, "
    "checksum VARCHAR, sidecar VARCHAR)"
)


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.intake_dir = str(plugin_config.get("intake_dir") or "target/intake")
        self.events = str(plugin_config.get("events") or "")
        self.catalog = str(plugin_config.get("catalog") or "seeds")

    def object_locations(self) -> list[str]:
        """The events location and the gateway-log globs of the catalog's event_sources.csv
        (docs/gateway_logs.md) that are object storage."""
        locations = [self.events] + [glob for _, glob in intake.event_source_globs(self.catalog)]
        return [p for p in locations if intake.object_scheme(p) and not intake.location_error(p)]

    def configure_connection(self, conn) -> None:
        intake_dir = self.intake_dir
        for location in self.object_locations():
            import fsspec

            fs, _ = fsspec.core.url_to_fs(location)
            if fs.protocol[0] not in conn.list_filesystems():
                conn.register_filesystem(fs)

        def list_files(pattern: str) -> list[str]:
            return intake.list_files(pattern)

        def inspect_files(
            paths: list[str],
            sizes: list[int | None],
            checksums: list[str | None],
            reads: list[str | None],
            formats: list[str | None],
        ) -> list[dict]:
            # One call for all of a run's new files, checked side by side (zlib and reads release the GIL).
            # A gateway log's staged name is `<file>#<source>`: `reads` gives the file, `formats` its format.
            def one(i: int) -> dict:
                known = (sizes[i], checksums[i]) if sizes[i] is not None else None
                return intake.inspect_file(
                    reads[i] or paths[i], intake_dir, known, fmt=formats[i], name=paths[i]
                ).as_row()

            per_core = 8 if any(intake.object_scheme(p) for p in paths) else 1
            workers = max(1, min(len(paths), (os.cpu_count() or 1) * per_core))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(one, range(len(paths))))

        def file_versions(paths: list[str]) -> list[dict]:
            versions = [intake.object_version(p) if intake.object_scheme(p) else (None, None) for p in paths]
            return [{"size_bytes": size, "version": version} for size, version in versions]

        conn.create_function(
            "usage_billing_file_versions",
            file_versions,
            ["VARCHAR[]"],
            VERSION_TYPE + "[]",
            null_handling="special",
            side_effects=True,
        )
        conn.create_function(
            "usage_billing_list_files", list_files, ["VARCHAR"], "VARCHAR[]", null_handling="special"
        )
        conn.create_function(
            "usage_billing_inspect_files",
            inspect_files,
            ["VARCHAR[]", "BIGINT[]", "VARCHAR[]", "VARCHAR[]", "VARCHAR[]"],
            INSPECTION_TYPE + "[]",
            null_handling="special",
            side_effects=True,
        )
        # Left registered at interpreter exit, DuckDB's bindings print a page of "leaked" warnings.
        atexit.register(_remove_functions, conn)


def _remove_functions(conn) -> None:
    for name in ("usage_billing_list_files", "usage_billing_inspect_files", "usage_billing_file_versions"):
        with contextlib.suppress(Exception):  # the connection may be closed already
            conn.remove_function(name)
    with contextlib.suppress(Exception):  # so is a registered filesystem (the object-storage location's)
        for name in conn.list_filesystems():
            conn.unregister_filesystem(name)
