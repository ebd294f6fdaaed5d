"""The finance export as a partitioned Dagster asset: one billing month's closed invoices and lines.

`usage-billing export --period YYYY-MM --format csv|parquet [--out DIR]` materializes this asset in process
for that partition; the monthly close-and-push run and a UI backfill of a month run it after the close.
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration.code_location.assets.close import FINAL_INVOICES, FINAL_LINES
from orchestration.code_location.partitions import billing_months, run_months
from orchestration.readers.export import ExportError, export_period
from orchestration.warehouse.project import REPO_ROOT, duckdb_path
from orchestration.warehouse.warehouse_lock import step_lock

DEFAULT_EXPORT_DIR = "data/exports"


def export_dir(out: str = "") -> Path:
    path = Path(out or os.environ.get("USAGE_BILLING_EXPORTS", DEFAULT_EXPORT_DIR))
    return path if path.is_absolute() else REPO_ROOT / path


class ExportConfig(dg.Config):
    format: str = Field(default="csv", description="csv or parquet.")
    out: str = Field(
        default="", description="Folder to write into (default USAGE_BILLING_EXPORTS or data/exports)."
    )


@dg.asset(
    key="finance_export",
    # The marts too: in a month-end run the export waits for them to show the closed invoices as final.
    deps=[FINAL_INVOICES, FINAL_LINES, dg.AssetKey("fct_invoices"), dg.AssetKey("fct_invoice_lines")],
    group_name="exports",
    kinds={"duckdb", "csv", "parquet"},
    owners=["team:finance"],
    partitions_def=billing_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description=(
        "A billing month's closed invoices and invoice lines for finance (CSV or Parquet, fixed column "
        "order) and control.json (row counts, totals per currency, sha256 of each file), under "
        "<out>/<YYYY-MM>/<format>/. Only final invoices, read from the close ledger: re-exporting a "
        "closed month gives byte-identical files."
    ),
)
def finance_export(context: dg.AssetExecutionContext, config: ExportConfig) -> dg.MaterializeResult:
    with step_lock(context):  # reads the ledger while no one writes it
        return _export(context, config)


def _export(context: dg.AssetExecutionContext, config: ExportConfig) -> dg.MaterializeResult:
    results = []
    for period in run_months(context):
        try:
            result = export_period(duckdb_path(), period, config.format, export_dir(config.out))
        except ExportError as e:
            raise dg.Failure(description=f"export {period}: {e}") from None
        for line in result.summary().splitlines():
            context.log.info(line)
        results.append(result)
    files = {
        f"{r.period}/{r.format}/{name}": {k: v for k, v in info.items() if k != "columns"}
        for r in results
        for name, info in r.files.items()
    }
    return dg.MaterializeResult(
        metadata={
            "period": ", ".join(r.period for r in results),
            "format": config.format,
            "directory": dg.MetadataValue.path(str(results[0].directory.parent.parent)),
            "files": dg.MetadataValue.json(files),
            "totals_per_currency": dg.MetadataValue.json({r.period: r.totals for r in results}),
            "open_invoices_not_exported": sum(len(r.open_invoices) for r in results),
            "summary": dg.MetadataValue.md("```\n" + "\n\n".join(r.summary() for r in results) + "\n```"),
        }
    )
