"""A dbt-duckdb plugin (profiles.yml `plugins:`) that gives the staging models the event-file intake of
``orchestration.events.intake`` as DuckDB functions:

- ``usage_billing_list_files(pattern)``: every file the events location matches, names taken literally;
- ``usage_billing_inspect_file(path, known_size, known_checksum)``: how a new file is read (ok, lines,
  rejected, unsupported, unchanged), with the reason and the Parquet side file for ``lines``.

Side files go to the plugin's ``intake_dir`` (beside the warehouse); each run's are written afresh.
"""

from __future__ import annotations

import atexit
import contextlib
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

        def inspect_file(path: str, known_size: int | None, known_checksum: str | None) -> dict:
            known = (known_size, known_checksum) if known_size is not None else None
            return intake.inspect_file(path, intake_dir, known).as_row()

        conn.create_function(
            "usage_billing_list_files", list_files, ["VARCHAR"], "VARCHAR[]", null_handling="special"
        )
        conn.create_function(
            "usage_billing_inspect_file",
            inspect_file,
            ["VARCHAR", "BIGINT", "VARCHAR"],
            INSPECTION_TYPE,
            null_handling="special",
            side_effects=True,
        )
        # Left registered at interpreter exit, DuckDB's bindings print a page of "leaked" warnings.
        atexit.register(_remove_functions, conn)


def _remove_functions(conn) -> None:
    for name in ("usage_billing_list_files", "usage_billing_inspect_file"):
        with contextlib.suppress(Exception):  # the connection may be closed already
            conn.remove_function(name)
