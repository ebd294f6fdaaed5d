"""Period close (P13) as a Dagster asset: freezes a month's invoices into the append-only ledger.

The ledger tables are dbt sources (`ledger.final_invoice_lines`, `ledger.final_invoices`), so in the asset
graph they sit upstream of the marts: `close_job` runs this asset, then rebuilds everything downstream so
`fct_invoices` shows the closed invoices as `final`. The write itself is the dbt operation
`close_billing_periods` (macros/ledger.sql): one code path for the CLI, the UI and the monthly schedule.
"""

import json
import os

import dagster as dg
from dagster_dbt import DbtCliResource
from pydantic import Field

from orchestration.code_location.partitions import billing_months, run_months
from orchestration.code_location.resources import release_dbt_duckdb_connections, stage_catalog
from orchestration.readers.observe import final_totals
from orchestration.warehouse.project import duckdb_path
from orchestration.warehouse.warehouse_lock import step_lock

FINAL_LINES = dg.AssetKey(["ledger", "final_invoice_lines"])
FINAL_INVOICES = dg.AssetKey(["ledger", "final_invoices"])
OWNERS = ["team:billing"]


class CloseConfig(dg.Config):
    """The month(s) to close are the run's partitions (YYYY-MM, the month the periods start in)."""

    force: bool = Field(default=False, description="Close at once, without waiting for the grace window.")
    grace_days: int = Field(default=3, description="Days after a period's end before it may be closed.")
    now: str = Field(
        default="", description="Close as if at this UTC time (ISO-8601); blank = now. For tests."
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FINAL_LINES,
            description="Every line of every closed invoice, frozen at close (P13). Append-only.",
            owners=OWNERS,
            kinds={"dbt", "duckdb"},
        ),
        dg.AssetSpec(
            FINAL_INVOICES,
            description="Totals of every closed invoice and when it closed (P13). Append-only.",
            owners=OWNERS,
            kinds={"dbt", "duckdb"},
        ),
    ],
    name="close_billing_periods",
    group_name="close",
    can_subset=False,
    partitions_def=billing_months,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def close_billing_periods(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: CloseConfig):
    with step_lock(context):  # one writer of the warehouse at a time
        yield from _close(context, dbt, config)


def _close(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: CloseConfig):
    periods = run_months(context)
    context.log.info(
        f"Closing the account periods that start in {', '.join(periods)} "
        + ("now (forced)" if config.force else f"whose {config.grace_days}-day grace window has passed")
    )
    if config.grace_days < 0:
        raise dg.Failure("close: grace_days must not be negative")
    args = {"period": periods, "force": config.force, "grace_days": config.grace_days}
    if config.now:
        args["now"] = config.now
    user_catalog = os.environ.get("USAGE_BILLING_CATALOG")
    staged = stage_catalog()
    if staged:
        os.environ["USAGE_BILLING_CATALOG"] = staged
    messages: list[str] = []
    try:
        invocation = dbt.cli(["run-operation", "close_billing_periods", "--args", json.dumps(args)])
        for event in invocation.stream_raw_events():
            message = event.raw_event.get("info", {}).get("msg", "")
            if isinstance(message, str) and message.startswith("close:"):
                messages.append(message)
                context.log.info(message)
        invocation.wait()
        if not invocation.is_successful():
            raise dg.Failure(f"close failed: {invocation.get_error()}")
    finally:
        release_dbt_duckdb_connections()
        if user_catalog is not None:
            os.environ["USAGE_BILLING_CATALOG"] = user_catalog
    closed = [m for m in messages if not m.startswith("close: skipped") and "invoice(s) closed" not in m]
    skipped = [m for m in messages if m.startswith("close: skipped")]
    metadata = {
        "period": ", ".join(periods),
        "force": config.force,
        "grace_days": config.grace_days,
        "invoices_closed": len(closed),
        "invoices_in_grace_window": len(skipped),
        "log": dg.MetadataValue.md("\n".join(f"- {m}" for m in messages) or "nothing to close"),
        # What `usage-billing close` prints without -v: a line per month, and the periods left open.
        "headline": dg.MetadataValue.md(
            "\n".join(f"- {m}" for m in messages if m not in closed) or "nothing to close"
        ),
    }
    final = final_totals(duckdb_path(), periods)
    for currency, count, total in final:
        context.log.info(
            f"Final invoices of {', '.join(periods)}: {count} in {currency.upper()}, total {total}"
        )
    metadata["final_invoices_of_months"] = dg.MetadataValue.md(
        "| currency | final invoices | total |\n|---|---:|---:|\n"
        + "".join(f"| {c.upper()} | {n} | {t} |\n" for c, n, t in final)
    )
    yield dg.MaterializeResult(asset_key=FINAL_LINES, metadata=metadata)
    yield dg.MaterializeResult(asset_key=FINAL_INVOICES, metadata=metadata)
