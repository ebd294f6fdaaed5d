"""`usage-billing`: the command line. Every build goes through the same Dagster assets as the UI."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ENV_PATHS = ("USAGE_BILLING_EVENTS", "USAGE_BILLING_DUCKDB", "USAGE_BILLING_CATALOG")
NO_WAIT_HELP = "If another command or run is writing the warehouse, exit 75 at once instead of waiting."
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _add_job_command(sub, name: str, help: str, func, *, writes: bool = True) -> argparse.ArgumentParser:
    """A sub-command that runs a Dagster job in process: its options for output, and --no-wait if it writes."""
    command = sub.add_parser(name, help=help)
    command.add_argument(
        "-v", "--verbose", action="store_true", help="Print dbt's log and Dagster's run log as the run goes."
    )
    command.add_argument(
        "--log-level",
        default="",
        choices=LOG_LEVELS,
        help="Dagster's run log (default: none; INFO with -v).",
    )
    if writes:
        command.add_argument("--no-wait", action="store_true", help=NO_WAIT_HELP)
    command.set_defaults(func=func)
    return command


def _loggers(args: argparse.Namespace) -> dict:
    """The run config's loggers for a command's options (see _add_job_command)."""
    # Quiet by default: the command reports a failure itself (_report_failure: what failed, without
    # Dagster's stack trace) and dbt's warnings as they come (orchestration/progress.py).
    level = args.log_level or ("INFO" if args.verbose else "CRITICAL")
    return {"console": {"config": {"log_level": level}}}


def _output(args: argparse.Namespace):
    """Around a command's in-process runs: one progress line, or dbt's log with -v (orchestration/progress.py)."""
    from orchestration.progress import command_output

    return command_output(args.verbose)


def _absolutise_env() -> None:
    """Relative paths in the environment are relative to where the user ran the command;
    dbt runs in the repository root, so hand it absolute ones."""
    for name in ENV_PATHS:
        value = os.environ.get(name)
        if value and not os.path.isabs(value) and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value):
            os.environ[name] = os.path.abspath(value)


def _manifest_env() -> str:
    """What the manifest depends on besides files: relation names carry the DuckDB file's name."""
    return "\n".join(f"{k}={os.environ.get(k, '')}" for k in (*ENV_PATHS, "USAGE_BILLING_TARGET"))


def _manifest_is_fresh(project_dir: Path) -> bool:
    """The manifest was parsed with this environment and is newer than every file dbt parses."""
    from orchestration.warehouse.project import target_dir

    manifest = target_dir() / "manifest.json"
    env_file = target_dir() / "manifest.env"
    if not manifest.exists() or not env_file.exists() or env_file.read_text() != _manifest_env():
        return False
    built = manifest.stat().st_mtime
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        sources += [p for p in (project_dir / folder).rglob("*") if p.suffix in (".sql", ".yml", ".yaml")]
    return all(p.stat().st_mtime < built for p in sources if p.exists())


def _prepare_manifest() -> None:
    """dagster-dbt reads the dbt manifest when the Definitions load: (re)parse the project first."""
    from orchestration.code_location.resources import dbt_executable
    from orchestration.warehouse.project import dbt_project, target_dir

    if _manifest_is_fresh(Path(dbt_project.project_dir)):
        return
    result = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(dbt_project.profiles_dir)],
        cwd=dbt_project.project_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"dbt parse failed (exit {result.returncode})")
    (target_dir() / "manifest.env").write_text(_manifest_env())


def _instance():
    from orchestration.code_location.instance import cli_instance

    return cli_instance()


def _prepare_dbt() -> None:
    """Stage a user catalog before parsing, so that the parse and the run see the same seed path and
    dbt's partial parsing can be reused; then make sure the manifest is current."""
    _absolutise_env()
    from orchestration.events import intake

    location = os.environ.get("USAGE_BILLING_EVENTS", "")
    if intake.USERINFO.match(location):  # refused before dbt parses it into its manifest
        raise SystemExit(intake.location_error(location))
    from orchestration.code_location.resources import stage_catalog

    staged = stage_catalog()
    if staged:
        os.environ["USAGE_BILLING_CATALOG"] = staged
    _prepare_manifest()


def _report_failure(result, what: str, elapsed: float | None = None) -> int:
    """Each failed step in a few lines (its own description, e.g. the dbt nodes that failed and the path of
    dbt's log, else its error; and the summary a failure carries, e.g. the push's), then the run."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        failure = event.step_failure_data.user_failure_data
        error = event.step_failure_data.error
        text = (failure.description if failure else "") or (error.message if error else event.message)
        sys.stderr.write(f"{event.step_key}: {(text or '').strip()}\n")
        summary = failure.metadata.get("summary") if failure else None
        if summary is not None:
            print(str(summary.value).strip().strip("`").strip())
    after = f" after {elapsed:.1f}s" if elapsed is not None else ""
    sys.stderr.write(f"{what} failed{after} (run {result.run_id})\n")
    return 1


def _check_months(months: list[str]) -> bool:
    from orchestration.code_location.partitions import first_month, unknown_months

    unknown = unknown_months(months)
    if unknown:
        sys.stderr.write(
            f"{', '.join(unknown)}: not a billing month partition (from USAGE_BILLING_FIRST_MONTH="
            f"{first_month()} to the current month)\n"
        )
    return not unknown


def _writes_warehouse(command: str):
    """Run a command that writes the warehouse under its lock (orchestration/warehouse/warehouse_lock.py).

    If another command or a Dagster run is writing it, say so on one line and wait; with --no-wait,
    exit with EXIT_BUSY (75) and the same message instead."""

    def decorate(run):
        def locked(args: argparse.Namespace) -> int:
            _absolutise_env()
            from orchestration.warehouse.project import duckdb_path
            from orchestration.warehouse.warehouse_lock import EXIT_BUSY, WarehouseBusy, warehouse_lock

            db_path = duckdb_path()

            def waiting(holder: str) -> None:
                sys.stderr.write(f"{command}: waiting for the warehouse {db_path}, held by {holder}\n")
                sys.stderr.flush()

            try:
                with warehouse_lock(
                    db_path,
                    f"usage-billing {command} (pid {os.getpid()})",
                    wait=not args.no_wait,
                    on_wait=waiting,
                ):
                    return run(args)
            except WarehouseBusy as busy:
                sys.stderr.write(
                    f"{command}: the warehouse {db_path} is held by {busy.holder}; "
                    "run again once it is free, or without --no-wait to wait for it\n"
                )
                return EXIT_BUSY

        locked.__doc__ = run.__doc__
        return locked

    return decorate


def _is_lock_conflict(error: Exception) -> bool:
    import duckdb

    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def _busy_reader_message(command: str, error: Exception) -> str:
    """One line for a reader that found the warehouse open for writing (DuckDB refuses readers then)."""
    from orchestration.warehouse.project import duckdb_path
    from orchestration.warehouse.warehouse_lock import holder_of

    db_path = duckdb_path()
    holder = holder_of(db_path)
    if holder is None:
        pid = re.search(r"\(PID (\d+)\)", str(error))
        holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"{command}: the warehouse {db_path} is being written (held by {holder}); try again once it is free"
    )


@_writes_warehouse("build")
def cmd_build(args: argparse.Namespace) -> int:
    _prepare_dbt()
    from orchestration.code_location.definitions import defs
    from orchestration.warehouse.project import duckdb_path

    duckdb_path().parent.mkdir(parents=True, exist_ok=True)
    run_config = {
        "loggers": _loggers(args),
        "ops": {
            "usage_billing_dbt_assets": {
                "config": {"full_refresh": bool(args.full_refresh), "as_of": args.as_of or ""}
            }
        },
    }
    started = time.monotonic()
    with _output(args):
        result = defs.resolve_job_def("build_job").execute_in_process(
            run_config=run_config, instance=_instance(), raise_on_error=False
        )
    elapsed = time.monotonic() - started
    if not result.success:
        from orchestration.warehouse.disk import disk_line, failure_texts

        code = _report_failure(result, "build", elapsed)
        line = disk_line(failure_texts(result))
        if line:
            sys.stderr.write(line + "\n")  # the last line printed: what happened and what to do
        return code
    print(f"build finished in {elapsed:.1f}s (run {result.run_id})")
    if not args.quiet:
        # The dbt asset has closed dbt-duckdb's connection (release_dbt_duckdb_connections),
        # so the warehouse can be read here.
        from orchestration.readers.summary import invoice_summary

        print()
        print(invoice_summary(duckdb_path()))
    return 0


def _built_warehouse(command: str) -> bool:
    """Prepare dbt for a command that needs a built warehouse; say so and return False if there is none."""
    _prepare_dbt()
    from orchestration.warehouse.project import duckdb_path

    if not duckdb_path().exists():
        sys.stderr.write(f"{command}: no warehouse at {duckdb_path()}: run `usage-billing build` first\n")
        return False
    return True


@_writes_warehouse("deep-checks")
def cmd_deep_checks(args: argparse.Namespace) -> int:
    """Run the deep_checks job in process: every dbt data test over the whole history."""
    if not _built_warehouse("deep-checks"):
        return 1
    from orchestration.code_location.definitions import defs

    started = time.monotonic()
    with _output(args):
        result = defs.resolve_job_def("deep_checks").execute_in_process(
            run_config={
                "loggers": _loggers(args),
                "ops": {"usage_billing_dbt_assets": {"config": {"full_history_checks": True}}},
            },
            instance=_instance(),
            raise_on_error=False,
        )
    elapsed = time.monotonic() - started
    evaluations = result.get_asset_check_evaluations()
    failed = sorted(e.check_name for e in evaluations if not e.passed)
    for name in failed:
        sys.stderr.write(f"failed: {name}\n")
    if not result.success or failed:
        return _report_failure(result, "deep-checks", elapsed)
    print(f"deep-checks: {len(evaluations)} check(s) passed in {elapsed:.1f}s (run {result.run_id})")
    return 0


@_writes_warehouse("close")
def cmd_close(args: argparse.Namespace) -> int:
    """Run close_job in process: freeze the month's periods into the ledger, rebuild the marts."""
    if not _built_warehouse("close"):
        return 1
    from orchestration.code_location.definitions import defs
    from orchestration.code_location.partitions import month_ranges, partition_run_args

    if not _check_months(args.period):
        return 1
    run_config = {
        "loggers": _loggers(args),
        "ops": {
            "close_billing_periods": {
                "config": {"force": bool(args.force), "grace_days": args.grace_days, "now": args.now or ""}
            }
        },
    }
    # One run per range of consecutive months (the months are the close asset's partitions).
    for first, last in month_ranges(args.period):
        started = time.monotonic()
        with _output(args):
            result = defs.resolve_job_def("close_job").execute_in_process(
                run_config=run_config,
                instance=_instance(),
                raise_on_error=False,
                **partition_run_args(first, last),
            )
        elapsed = time.monotonic() - started
        if not result.success:
            return _report_failure(result, "close", elapsed)
        for materialization in result.asset_materializations_for_node("close_billing_periods")[:1]:
            log = materialization.metadata.get("log" if args.verbose else "headline")
            if log is not None:
                print(str(log.value))
        print(f"close finished in {elapsed:.1f}s (run {result.run_id})")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.summary import invoice_summary, stripe_summary
    from orchestration.warehouse.project import duckdb_path

    print(
        stripe_summary(duckdb_path())
        if args.stripe
        else invoice_summary(duckdb_path(), max_invoices=args.max_invoices)
    )
    return 0


def _period(value: str) -> str:
    from orchestration.stripe.ledger import month_range

    try:
        month_range(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _day(value: str) -> str:
    """A YYYY-MM-DD day, or "" (argparse passes the default through this too)."""
    from datetime import date

    if not value:
        return ""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"a day looks like YYYY-MM-DD, got {value!r}") from None


@_writes_warehouse("push")
def cmd_push(args: argparse.Namespace) -> int:
    """Run the stripe_push asset in process (the same asset as push_job in the UI)."""
    _absolutise_env()
    import dagster as dg

    from orchestration.code_location.assets.stripe import RECONCILIATION_CHECK, stripe_push
    from orchestration.code_location.resources import stripe_resource

    if not _check_months([args.period]):
        return 1
    run_config = {
        "loggers": _loggers(args),
        "ops": {"stripe_push": {"config": {"dry_run": args.dry_run, "live": args.live}}},
    }
    with _output(args):
        result = dg.materialize(
            [stripe_push],
            resources={"stripe": stripe_resource()},
            run_config=run_config,
            instance=_instance(),
            raise_on_error=False,
            partition_key=args.period,
        )
    for materialization in result.asset_materializations_for_node("stripe_push"):
        summary = materialization.metadata.get("summary" if args.verbose or args.dry_run else "headline")
        if summary is not None:
            print(str(summary.value).strip().strip("`").strip())
    if not result.success:
        return _report_failure(result, "push")
    failed_checks = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == RECONCILIATION_CHECK and not e.passed
    ]
    if failed_checks:
        sys.stderr.write("reconciliation with Stripe failed: see marts.stripe_reconciliation\n")
        return 1
    if args.dry_run:
        return 0
    # Then, as push_job does in the UI: read the statuses back, rebuild receivables and entitlements.
    return _payment_status(args, live=args.live, after_push=True)


def _payment_status(
    args: argparse.Namespace,
    *,
    live: bool = False,
    invoices: list[str] | None = None,
    aged_on: str = "",
    after_push: bool = False,
) -> int:
    """Run payment_status_job in process: read Stripe's statuses, rebuild receivables and entitlements."""
    _absolutise_env()
    from orchestration.stripe.payments import has_status_ledger
    from orchestration.warehouse.project import duckdb_path

    if not has_status_ledger(duckdb_path()):
        # A warehouse that no build of this version has touched yet (each build creates the table).
        print("payment status not read: the warehouse has no ledger.stripe_invoice_status; run a build first")
        return 0 if after_push else 1
    if not _built_warehouse("payment-status"):
        return 1
    from orchestration.code_location.definitions import defs

    with _output(args):
        result = defs.resolve_job_def("payment_status_job").execute_in_process(
            run_config={
                "loggers": _loggers(args),
                "ops": {
                    "stripe_invoice_status": {"config": {"stripe_invoice_ids": invoices or [], "live": live}},
                    "usage_billing_dbt_assets": {"config": {"receivables_date": aged_on}},
                },
            },
            instance=_instance(),
            raise_on_error=False,
        )
    if not result.success:
        return _report_failure(result, "payment-status")
    for materialization in result.asset_materializations_for_node("stripe_invoice_status"):
        print(str(materialization.metadata["summary"].value))
    return 0


@_writes_warehouse("payment-status")
def cmd_payment_status(args: argparse.Namespace) -> int:
    """Read pushed invoices' payment status from Stripe; rebuild receivables and entitlements."""
    return _payment_status(args, live=args.live, invoices=args.invoice, aged_on=args.aged_on)


def cmd_receivables(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.receivables import render_receivables
    from orchestration.warehouse.project import duckdb_path

    print(render_receivables(duckdb_path()))
    return 0


def cmd_entitlements(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.receivables import render_entitlements
    from orchestration.warehouse.project import duckdb_path

    print(render_entitlements(duckdb_path(), show_all=args.all))
    return 0


def cmd_stripe_webhooks(args: argparse.Namespace) -> int:
    from orchestration.stripe.webhooks import serve

    return serve(port=args.port)


@_writes_warehouse("export")
def cmd_export(args: argparse.Namespace) -> int:
    """Materialize the finance_export asset's partition in process (the same asset as the UI's)."""
    _absolutise_env()
    import dagster as dg

    from orchestration.code_location.assets.export import finance_export

    if not _check_months([args.period]):
        return 1
    out = os.path.abspath(args.out) if args.out else ""
    with _output(args):
        result = dg.materialize(
            [finance_export],
            run_config={
                "loggers": _loggers(args),
                "ops": {"finance_export": {"config": {"format": args.format, "out": out}}},
            },
            instance=_instance(),
            raise_on_error=False,
            partition_key=args.period,
        )
    if not result.success:
        return _report_failure(result, "export")
    for materialization in result.asset_materializations_for_node("finance_export"):
        print(str(materialization.metadata["summary"].value).strip().strip("`").strip())
    return 0


def cmd_local_stripe(args: argparse.Namespace) -> int:
    from orchestration.stripe.local_server import serve_as_asked

    serve_as_asked(args)
    return 0


def cmd_generate_events(args: argparse.Namespace) -> int:
    from orchestration.generator import generate_events

    started = time.monotonic()
    summary = generate_events(
        Path(args.out),
        events=args.events,
        accounts=args.accounts,
        months=args.months,
        seed=args.seed,
        start=args.start,
        fmt=args.format,
        files=args.files,
        catalog_dir=Path(args.catalog) if args.catalog else None,
        write_catalog=Path(args.write_catalog) if args.write_catalog else None,
        resend_rate=args.resend_rate,
        conflict_rate=args.conflict_rate,
        late_rate=args.late_rate,
        non2xx_rate=args.non2xx_rate,
        malformed_rate=args.malformed_rate,
        alias_rate=args.alias_rate,
        unknown_account_rate=args.unknown_account_rate,
        blank_line_rate=args.blank_line_rate,
        progress=lambda message: print(message, file=sys.stderr),
    )
    elapsed = time.monotonic() - started
    files = summary.get("files", [])
    print(f"wrote {len(files)} file(s) to {args.out} in {elapsed:.1f}s")
    for key, value in summary.items():
        if key not in ("files", "rows_per_file", "per_file", "malformed_by_kind", "unknown_account_ids"):
            print(f"  {key}: {value}")
    return 0


# --- Readers' commands (issue 7): statement, explain, simulate, review; each lives in its own module. ---


def cmd_explain(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.explain import explain_line, render_markdown, render_text, to_json
    from orchestration.warehouse.project import duckdb_path

    try:
        ex = explain_line(duckdb_path(), args.invoice_line_id, sample_size=args.sample)
    except LookupError as e:
        sys.stderr.write(f"explain: {e}\n")
        return 1
    render = {"text": render_text, "markdown": render_markdown, "json": to_json}[args.format]
    print(render(ex))
    return 0 if ex.reconciles else 2


def cmd_statement(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.statements import write_statement
    from orchestration.warehouse.project import duckdb_path

    try:
        path = write_statement(duckdb_path(), args.account, args.period, Path(args.out) if args.out else None)
    except LookupError as e:
        sys.stderr.write(f"statement: {e}\n")
        return 1
    print(f"wrote {path}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.review import render_text, review_period
    from orchestration.warehouse.project import duckdb_path

    print(render_text(review_period(duckdb_path(), args.period, include_final=args.all), args.period))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    _absolutise_env()
    from orchestration.readers.simulate import render_text, simulate
    from orchestration.warehouse.project import duckdb_path

    catalog = Path(args.catalog).resolve()
    try:
        sim = simulate(duckdb_path(), catalog, args.period)
    except (FileNotFoundError, RuntimeError) as e:
        sys.stderr.write(f"simulate: {e}\n")
        return 1
    print(render_text(sim, Path(args.catalog)))
    return 0


def add_reader_commands(sub) -> None:
    simulate = sub.add_parser(
        "simulate", help="Re-price a month under a draft catalog (on a copy) and print the deltas."
    )
    simulate.add_argument("--catalog", required=True, help="Folder with the draft catalog CSVs.")
    simulate.add_argument("--period", required=True, type=_period, help="YYYY-MM: periods starting then.")
    simulate.set_defaults(func=cmd_simulate)

    review = sub.add_parser(
        "review",
        help="Open invoices of a month beside each account's previous invoice, with the change's causes.",
    )
    review.add_argument("--period", required=True, type=_period, help="YYYY-MM: periods starting then.")
    review.add_argument("--all", action="store_true", help="Also list final (closed) invoices.")
    review.set_defaults(func=cmd_review)

    statement = sub.add_parser("statement", help="Write an account's HTML usage statement for a period.")
    statement.add_argument("--account", required=True)
    statement.add_argument("--period", required=True, type=_period, help="YYYY-MM: the period starting then.")
    statement.add_argument("--out", default=None, help="HTML file (default statement_ACCOUNT_PERIOD.html).")
    statement.set_defaults(func=cmd_statement)

    explain = sub.add_parser(
        "explain", help="How an invoice line's amount was computed, and the events behind it."
    )
    explain.add_argument("invoice_line_id")
    explain.add_argument("--sample", type=int, default=10, help="Events to list (all are counted).")
    explain.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    explain.set_defaults(func=cmd_explain)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("usage-billing")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usage-billing",
        description="Usage-based billing warehouse: raw API events to priced invoice lines (dbt + Dagster).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    build = _add_job_command(
        sub,
        "build",
        "Load new event files and build the warehouse (the Dagster build_job, run in process).",
        cmd_build,
    )
    build.add_argument(
        "--full-refresh", action="store_true", help="Rebuild incremental models from every file."
    )
    build.add_argument("--as-of", default="", help="P2 as-of time (ISO-8601); default: latest valid event.")
    build.add_argument("--quiet", action="store_true", help="Do not print the invoice summary.")

    _add_job_command(
        sub,
        "deep-checks",
        "Run every dbt data test over the whole history (the Dagster deep_checks job, in process).",
        cmd_deep_checks,
    )

    summary = sub.add_parser("summary", help="Print the invoice summary of the current warehouse.")
    summary.add_argument("--max-invoices", type=int, default=40)
    summary.add_argument(
        "--stripe", action="store_true", help="What Stripe holds after the last push, beside our totals."
    )
    summary.set_defaults(func=cmd_summary)

    close = _add_job_command(
        sub,
        "close",
        "Close the account periods that start in a month (P13): their invoices become final.",
        cmd_close,
    )
    close.add_argument(
        "--period",
        required=True,
        type=_period,
        action="append",
        help="YYYY-MM: periods that start in this month (repeat for several months).",
    )
    close.add_argument(
        "--force", action="store_true", help="Close now, without waiting for the grace window."
    )
    close.add_argument(
        "--grace-days", type=int, default=3, help="Days after a period's end before it may close (default 3)."
    )
    close.add_argument("--now", default="", help=argparse.SUPPRESS)

    push = _add_job_command(
        sub,
        "push",
        "Push a month's final invoices to Stripe exactly once (STRIPE_API_KEY, STRIPE_API_BASE).",
        cmd_push,
    )
    push.add_argument(
        "--period", required=True, type=_period, help="YYYY-MM: invoices whose period starts in this month."
    )
    push.add_argument("--dry-run", action="store_true", help="Print what would be sent; send nothing.")
    push.add_argument("--live", action="store_true", help="Allow a live-mode key (sk_live_/rk_live_).")

    payment_status = _add_job_command(
        sub,
        "payment-status",
        "Read pushed invoices' payment status from Stripe; rebuild receivables and entitlements.",
        cmd_payment_status,
    )
    payment_status.add_argument(
        "--invoice",
        action="append",
        help="Only this Stripe invoice id (repeatable); default: every open one.",
    )
    payment_status.add_argument(
        "--live", action="store_true", help="Allow a live-mode key (sk_live_/rk_live_)."
    )
    payment_status.add_argument(
        "--aged-on",
        default="",
        type=_day,
        help="Age receivables on this day (YYYY-MM-DD); default: today (UTC).",
    )

    receivables = sub.add_parser(
        "receivables", help="What customers owe on pushed invoices, aged 0-30/31-60/61-90/90+ days."
    )
    receivables.set_defaults(func=cmd_receivables)

    entitlements = sub.add_parser(
        "entitlements", help="Who the gateway should block and why (marts.account_entitlements)."
    )
    entitlements.add_argument("--all", action="store_true", help="Every account, not only the blocked ones.")
    entitlements.set_defaults(func=cmd_entitlements)

    webhooks = sub.add_parser(
        "stripe-webhooks",
        help="Receive Stripe's invoice webhooks (signature verified) and read the invoice's status on each.",
    )
    webhooks.add_argument("--port", type=int, default=8421, help="Port on 127.0.0.1 (0: any free port).")
    webhooks.set_defaults(func=cmd_stripe_webhooks)

    export = _add_job_command(
        sub,
        "export",
        "Export a closed month's invoices and lines for finance, with a control file (closed invoices only).",
        cmd_export,
    )
    export.add_argument(
        "--period", required=True, type=_period, help="YYYY-MM: invoices whose period starts in this month."
    )
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument(
        "--out",
        default="",
        help="Folder (default USAGE_BILLING_EXPORTS or data/exports); writes <out>/YYYY-MM/<format>/.",
    )

    local_stripe = sub.add_parser(
        "local-stripe",
        help="Run the local Stripe-API-compatible server on 127.0.0.1 in the foreground (see docs/stripe.md).",
    )
    from orchestration.stripe.local_server import add_arguments

    add_arguments(local_stripe)
    local_stripe.set_defaults(func=cmd_local_stripe)

    gen = sub.add_parser(
        "generate-events", help="Write synthetic, realistic usage events (deterministic per seed)."
    )
    gen.add_argument("--events", type=int, required=True)
    gen.add_argument("--accounts", type=int, default=8)
    gen.add_argument("--months", type=int, default=3)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--start", default="2026-01-01", help="First day of the generated range (UTC).")
    gen.add_argument("--format", choices=["ndjson", "ndjson.gz", "parquet"], default="ndjson")
    gen.add_argument(
        "--files", type=int, default=None, help="Number of files (default: one per month + late)."
    )
    gen.add_argument("--out", default="data/raw/events", help="Output directory.")
    gen.add_argument("--catalog", default=None, help="Catalog to draw accounts/meters from (default seeds/).")
    gen.add_argument(
        "--write-catalog", default=None, help="Write a catalog covering the generated accounts here."
    )
    gen.add_argument("--resend-rate", type=float, default=0.01)
    gen.add_argument("--conflict-rate", type=float, default=0.002)
    gen.add_argument("--late-rate", type=float, default=0.01)
    gen.add_argument("--non2xx-rate", type=float, default=0.05)
    gen.add_argument("--malformed-rate", type=float, default=0.001)
    gen.add_argument(
        "--alias-rate", type=float, default=0.05, help="customer_id/user_id, event_name, quantity, metadata.*"
    )
    gen.add_argument("--unknown-account-rate", type=float, default=0.002)
    gen.add_argument("--blank-line-rate", type=float, default=0.0005)
    gen.set_defaults(func=cmd_generate_events)
    add_reader_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # readers open the warehouse read-only: DuckDB refuses them while it is written
        if not _is_lock_conflict(e):
            raise
        from orchestration.warehouse.warehouse_lock import EXIT_BUSY

        sys.stderr.write(_busy_reader_message(args.command, e) + "\n")
        return EXIT_BUSY


if __name__ == "__main__":
    raise SystemExit(main())
