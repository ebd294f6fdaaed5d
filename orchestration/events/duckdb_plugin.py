"""A dbt-duckdb plugin (profiles.yml `plugins:`) that gives the staging models the event-file intake of
``orchestration.events.intake`` as DuckDB functions:

- ``usage_billing_list_files(pattern)``: every file the events location matches, names taken literally;
- ``usage_billing_inspect_files(paths, known_sizes, known_checksums, reads, formats)``: how each new file
  is read (ok, lines, rejected, unsupported, unchanged), with the reason and the Parquet side file for
  ``lines``; the files are checked side by side, one thread per core. ``reads`` and ``formats`` are
  given for gateway logs (staged as ``<file>#<source>``), null for event files.

Side files go to the plugin's ``intake_dir`` (beside the warehouse); each run's are written afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.events import intake

INSPECTION_TYPE = (
    "STRUCT(source_file VARCHAR, status VARCHAR, reason VARCHAR, detail VARCHAR, size_bytes BIGINT, "
    "checksum VARCHAR, sidecar VARCHAR)"
)


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.intake_dir = str(plugin_config.get("intake_dir") or "target/intake")

    def configure_connection(self, conn) -> None:
        intake_dir = self.intake_dir

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

            workers = max(1, min(len(paths), os.cpu_count() or 1))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(one, range(len(paths))))

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
    for name in ("usage_billing_list_files", "usage_billing_inspect_files"):
        with contextlib.suppress(Exception):  # the connection may be closed already
            conn.remove_function(name)
