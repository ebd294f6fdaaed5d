"""The dbt models, seeds and tests as Dagster assets and asset checks (one `dbt build`)."""

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from dagster_dbt.core.dbt_event_iterator import DbtEventIterator

from orchestration import progress
from orchestration.code_location.resources import release_dbt_duckdb_connections, stage_catalog
from orchestration.readers.observe import (
    md_table,
    quarantine_reasons,
    reconciliation_totals,
    rejected_file_reasons,
    revenue_per_currency,
    top_invoices_md,
    unbilled_by_reason,
)
from orchestration.warehouse import disk, partial_parse
from orchestration.warehouse.catalog_state import SKIP_CATALOG_ARGS, catalog_vars
from orchestration.warehouse.project import dbt_project, duckdb_path, on_duckdb
from orchestration.warehouse.warehouse_lock import step_lock

GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "billing",
    "marts": "marts",
}
OWNERS_BY_GROUP = {
    "catalog": ["team:pricing"],
    "staging": ["team:data-platform"],
    "billing": ["team:billing"],
    "marts": ["team:billing"],
}
# Models whose materialization carries figures read from the warehouse after the build.
ENRICHED_MODELS = (
    "event_reconciliation",
    "events_quarantined",
    "event_files_rejected",
    "unbilled_usage",
    "fct_invoices",
)


# Lines of a failed node's error that a failed build shows (the rest is in dbt's log).
ERROR_LINES = 12


class UsageBillingTranslator(DagsterDbtTranslator):
    """Asset keys are the dbt model names; groups follow the flow of the data."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "catalog"
        fqn = dbt_resource_props.get("fqn", [])
        for folder, group in GROUP_BY_FOLDER.items():
            if folder in fqn:
                return group
        return None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        return OWNERS_BY_GROUP.get(self.get_group_name(dbt_resource_props) or "")


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    as_of: str = ""
    # The event-level data tests check every row, not only this run's (dbt var full_history_checks): set by
    # the deep_checks job, which runs the tests only (orchestration/code_location/definitions.py).
    full_history_checks: bool = False
    # The day accounts_receivable ages invoices on (YYYY-MM-DD; dbt var receivables_date); blank: today, UTC.
    receivables_date: str = ""


def dbt_threads() -> int:
    """dbt's threads on DuckDB: USAGE_BILLING_DBT_THREADS, else the cores this process may run on.

    profiles.yml can only read environment variables, so its own default (for a plain `dbt build`) is a
    fixed number; the Dagster asset, which the CLI, the UI and the schedules all run, passes this one
    with `--threads`."""
    value = os.environ.get("USAGE_BILLING_DBT_THREADS", "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise dg.Failure(f"USAGE_BILLING_DBT_THREADS must be a whole number of at least 1, not {value!r}")
    return int(value)


def in_topological_order(outputs: list[dg.Output], manifest: Mapping[str, Any]) -> list[dg.Output]:
    """The outputs sorted so that each comes after every output it depends on (through any nodes in
    between, such as ephemeral models), keeping the given order among independent ones.

    Dagster refuses a multi-asset output yielded after one of its dependents. dbt finishes a node before
    it starts the node's dependents, so its events arrive in a topological order with any number of
    threads; sorting by the manifest's graph makes the order of the held outputs hold by construction
    rather than by how the events happened to be collected."""
    parents = manifest.get("parent_map") or {
        uid: node.get("depends_on", {}).get("nodes", []) for uid, node in manifest.get("nodes", {}).items()
    }
    depth: dict[str, int] = {}

    def depth_of(uid: str) -> int:  # longest path from a root: a dependent is always deeper
        stack = [uid]
        while stack:
            top = stack[-1]
            pending = [p for p in parents.get(top, []) if p not in depth and p != top]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[top] = 1 + max((depth[p] for p in parents.get(top, []) if p != top), default=-1)
        return depth[uid]

    order = {id(o): i for i, o in enumerate(outputs)}
    return sorted(outputs, key=lambda o: (depth_of(o.metadata["unique_id"].value), order[id(o)]))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=UsageBillingTranslator(),
)
def usage_billing_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    # One writer of the warehouse at a time (orchestration/warehouse/warehouse_lock.py).
    with step_lock(context):
        yield from _dbt_build(context, dbt, config)


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    # Unit tests check the SQL against fixed inputs, not the data: they run in CI (scripts/test.sh runs
    # the plain `dbt build`) and in development, as dbt recommends, not in every production build.
    args = ["build", "--exclude-resource-type", "unit_test"]
    if config.full_refresh:
        args.append("--full-refresh")
    duckdb_target = on_duckdb()
    if duckdb_target:  # other targets keep their profile's threads (Spark in-process: 1)
        threads = dbt_threads()
        args += ["--threads", str(threads)]
        context.log.info(f"dbt build with {threads} thread(s)")
    db_path = duckdb_path()
    if duckdb_target:
        make_room(db_path, config)
    # dbt must only ever see a catalog path inside the project (see stage_catalog).
    user_catalog = os.environ.get("USAGE_BILLING_CATALOG")
    staged = stage_catalog()
    if staged:
        os.environ["USAGE_BILLING_CATALOG"] = staged
        context.log.info(f"Pricing catalog: {user_catalog} (staged as {staged})")
    dbt_vars = catalog_vars(db_path if duckdb_target else None, full_refresh=config.full_refresh)
    if not dbt_vars["catalog_changed"] and not context.is_subset:
        # Only in a whole build: a subset (picked in the UI) runs what was picked.
        args += SKIP_CATALOG_ARGS
        context.log.info(
            "Pricing catalog unchanged since the last successful build: seeds and their tests skipped"
        )
    if config.as_of:
        dbt_vars["as_of"] = config.as_of
    if config.full_history_checks:
        dbt_vars["full_history_checks"] = True
    if config.receivables_date:
        dbt_vars["receivables_date"] = config.receivables_date
    args += ["--vars", json.dumps(dbt_vars)]
    target_path = partial_parse.new_target_path(context.op_execution_context.op.name, context.run.run_id)
    partial_parse.restore(target_path, dbt_vars)
    held: list[dg.Output] = []
    failure: Exception | None = None
    invocation = dbt.cli(args, context=context, target_path=target_path)
    try:
        # dbt-duckdb holds the warehouse open until the build ends, so figures can only be read after
        # it. On DuckDB every output is held until then and gets its row count from one connection,
        # instead of through fetch_row_counts(): that waits for the end too, and polls its futures in
        # a busy loop that takes a core from the build. Elsewhere only the models whose figures are
        # read back are held, and every output after the first held one. Held outputs are yielded in
        # topological order (in_topological_order). Asset checks (dbt tests) are reported as they run.
        events = _stream(invocation) if duckdb_target else _stream(invocation).fetch_row_counts()
        for event in events:
            if isinstance(event, dg.Output) and (
                held or duckdb_target or event.output_name in ENRICHED_MODELS
            ):
                held.append(event)
            else:
                yield event
    except Exception as e:  # a failed build: the models it did build are still reported, then it fails
        failure = e
    finally:
        # dbt's output can end before its process has exited and released the warehouse file's lock.
        invocation.process.wait()
        partial_parse.save(target_path, dbt_vars)
        release_dbt_duckdb_connections()
        if user_catalog is not None:
            os.environ["USAGE_BILLING_CATALOG"] = user_catalog
    if (
        failure is not None
        and duckdb_target
        and disk.mentions_disk_full([str(failure), *dbt_errors(invocation)])
    ):
        # The build's changes are in DuckDB's log only (macros/checkpoints.sql): drop them, report none.
        disk.undo_build(db_path)
        raise dg.Failure(description=disk.disk_full_message(db_path)) from failure
    held = in_topological_order(held, invocation.manifest)
    uids = [e.metadata["unique_id"].value for e in held]
    counts = table_row_counts(db_path, uids, invocation.manifest) if duckdb_target else {}
    for event in held:
        metadata = dict(event.metadata)
        count = counts.get(metadata["unique_id"].value)
        if count is not None:
            metadata["dagster/row_count"] = dg.MetadataValue.int(count)
        if event.output_name in ENRICHED_MODELS:
            figures = warehouse_figures(event.output_name, db_path)
            for line in figures.pop("_log", []):
                context.log.info(line)
            metadata.update(figures)
        yield event.with_metadata(metadata)
    if failure is not None:
        raise build_failure(invocation, failure, full_history_checks=config.full_history_checks) from failure


def _stream(invocation) -> DbtEventIterator:
    """dagster-dbt's `invocation.stream()`, with each of dbt's structured events also handed to the
    command that shows the build's progress (orchestration/progress.py)."""

    def events():
        for raw in invocation.stream_raw_events():
            progress.dbt_event(raw.raw_event)
            yield from raw.to_default_asset_events(
                manifest=invocation.manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=invocation.context,
                target_path=invocation.target_path,
                project=invocation.project,
            )

    return DbtEventIterator(events(), invocation)


def make_room(db_path, config: DbtBuildConfig) -> None:
    """Before a DuckDB build: refuse it when the disk clearly lacks the room, and checkpoint what earlier
    commands left in the warehouse's log, so that the log the build writes holds its changes only
    (orchestration/warehouse/disk.py). Nothing is changed when either fails."""
    refused = disk.check_free_space(db_path, full_refresh=config.full_refresh)
    if refused:
        raise dg.Failure(description=refused)
    try:
        disk.checkpoint(db_path)
    except Exception as e:
        if disk.mentions_disk_full([str(e)]):
            raise dg.Failure(description=disk.disk_full_message(db_path, changed=False)) from e
        raise


def _failed_results(invocation) -> list[dict]:
    """The nodes that failed, from dbt's run_results.json (none if dbt wrote none)."""
    try:
        results = invocation.get_artifact("run_results.json").get("results", [])
    except Exception:  # dbt stopped before writing it
        return []
    return [r for r in results if r.get("status") in ("error", "fail")]


def build_failure(invocation, error: Exception, *, full_history_checks: bool = False) -> dg.Failure:
    """A failed dbt build, said in a few lines: each node that failed with its error (at most
    ERROR_LINES lines of it; or, when dbt failed before running nodes, its own message), and the path
    of dbt's full log."""
    failed = _failed_results(invocation)
    what = "full-history check(s)" if full_history_checks else "dbt node(s)"
    lines = [f"{len(failed)} {what} failed:"] if failed else [str(error).strip()]
    for result in sorted(failed, key=lambda r: r["unique_id"]):
        message = (result.get("message") or result["status"]).strip().splitlines()
        lines.append(f"  {result['unique_id'].split('.')[2]}: {message[0]}")
        lines += [f"    {line.strip()}" for line in message[1:ERROR_LINES]]
    lines.append(f"dbt's full log: {invocation.target_path / 'dbt.log'}")
    return dg.Failure(
        description="\n".join(lines),
        metadata={"failed_tests" if full_history_checks else "failed_nodes": failed_nodes(invocation)},
    )


def dbt_errors(invocation) -> list[str]:
    """The messages of the nodes that failed."""
    return [r.get("message") or "" for r in _failed_results(invocation)]


def failed_nodes(invocation) -> list[str]:
    """The names of the nodes that failed (a test's name says its model and columns)."""
    return sorted(r["unique_id"].split(".")[2] for r in _failed_results(invocation))


def table_row_counts(db_path, unique_ids: list[str], manifest: Mapping[str, Any]) -> dict[str, int]:
    """Rows in each dbt model or seed materialized as a table (views are not counted: like
    fetch_row_counts, a count would run their query), read in one read-only connection."""
    nodes = manifest.get("nodes", {})
    relations = {  # schema and name only: the file's catalog name depends on how it is opened
        uid: f'"{nodes[uid]["schema"]}"."{nodes[uid]["alias"]}"'
        for uid in unique_ids
        if uid in nodes and nodes[uid]["config"].get("materialized") != "view"
    }
    if not relations or not db_path.exists():
        return {}
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {
            uid: con.execute(f"select count(*) from {rel}").fetchone()[0] for uid, rel in relations.items()
        }
    finally:
        con.close()


def warehouse_figures(model: str, db_path) -> dict[str, Any]:
    """Metadata read from the warehouse for one model, plus `_log`: the same in words for the run log."""
    if model == "event_reconciliation":
        files, read, valid, dup, conflict, quarantined = reconciliation_totals(db_path)
        return {
            "files": files,
            "rows_in": read,
            "rows_out_valid": valid,
            "rows_duplicate": dup,
            "rows_conflict": conflict,
            "rows_quarantined": quarantined,
            "_log": [
                f"Events: {files} file(s), {read:,} rows read = {valid:,} valid + {dup:,} duplicates "
                f"({conflict:,} conflicting) + {quarantined:,} quarantined"
            ],
        }
    if model == "events_quarantined":
        reasons = quarantine_reasons(db_path)
        return {
            "quarantine_reasons": dg.MetadataValue.md(md_table(["reason", "lines"], reasons, right=(1,))),
            "_log": ["Quarantined: " + (", ".join(f"{r} {n:,}" for r, n in reasons) or "nothing")],
        }
    if model == "event_files_rejected":
        rejected = rejected_file_reasons(db_path)
        return {
            "files_not_loaded": dg.MetadataValue.md(md_table(["reason", "files"], rejected, right=(1,))),
            "_log": [
                "Files not loaded (marts.event_files_rejected): "
                + (", ".join(f"{r} {n:,}" for r, n in rejected) or "none")
            ],
        }
    if model == "unbilled_usage":
        rows = unbilled_by_reason(db_path)
        return {
            "unbilled_by_reason": dg.MetadataValue.md(
                md_table(["reason", "events", "units"], rows, right=(1, 2))
            ),
            "_log": ["Unbilled usage: " + (", ".join(f"{r} {n:,} events" for r, n, _ in rows) or "none")],
        }
    if model == "fct_invoices":
        revenue = revenue_per_currency(db_path)
        return {
            "revenue_per_currency": dg.MetadataValue.json(revenue),
            "top_10_invoices_per_currency": dg.MetadataValue.md(top_invoices_md(db_path, 10)),
            "_log": ["Invoice totals: " + (", ".join(revenue.values()) or "no invoices")],
        }
    return {}
