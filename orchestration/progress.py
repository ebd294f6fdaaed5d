"""What a command prints while its Dagster run works: by default one progress line, dbt's log with --verbose.

dagster-dbt re-prints each of dbt's log lines on standard output as a build runs (several hundred lines:
a START and a PASS line per node), and the command's own result scrolls away under them. Commands that
run a job in process wrap it in `command_output`: with `verbose`, nothing changes; otherwise dbt's lines
are not printed (each run keeps them in `dbt.log` in its target folder, which a failure names), a terminal
shows one bar (nodes done / total and the node running, through `rich`), and the warnings dbt raises for
this project (a test at warn severity, a macro's warning) are printed as they come. The dbt asset hands
every structured dbt event to `dbt_event`, which does nothing when no command listens (the UI, the
schedules, the sensor).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# dbt's events for a node that finished (one per node, whatever its type).
RESULT_EVENTS = frozenset(
    {
        "LogModelResult",
        "LogTestResult",
        "LogSeedResult",
        "LogHookEndLine",
        "LogSnapshotResult",
        "SkippingDetails",
    }
)

_listener: Callable[[Mapping[str, Any]], None] | None = None


def dbt_event(raw_event: Mapping[str, Any]) -> None:
    """One structured dbt event (dbt's JSON log line), from the dbt asset as the build streams."""
    if _listener is not None:
        _listener(raw_event)


# Warn-level events that repeat, at the end of dbt's run, a warning already printed as it happened.
REPEATED_WARNINGS = frozenset({"RunResultWarning", "RunResultWarningMessage", "StatsLine"})
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def warning_text(raw_event: Mapping[str, Any]) -> str | None:
    """The line to print for one of dbt's warn-level events (a test at warn severity, a macro's warning),
    else None."""
    info, data = raw_event.get("info", {}), raw_event.get("data", {})
    if info.get("level") != "warn" or info.get("name") in REPEATED_WARNINGS:
        return None
    if info.get("name") == "LogTestResult":
        node = data.get("node_info", {}).get("node_name") or data.get("name", "")
        return f"warning: dbt test {node} found {data.get('num_failures', '?')} row(s)"
    message = " ".join(ANSI.sub("", str(info.get("msg", ""))).split())
    return f"warning: {message}" if message else None


@contextlib.contextmanager
def command_output(verbose: bool) -> Iterator[None]:
    """Around a command's in-process Dagster runs: see the module's docstring."""
    global _listener
    if verbose:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)  # colour and the bar only on a terminal
    progress = (
        Progress(
            TextColumn("[bold]dbt[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        if console.is_terminal
        else None
    )
    task = None

    def listen(raw_event: Mapping[str, Any]) -> None:
        nonlocal task
        warning = warning_text(raw_event)
        if warning:
            console.print(warning, style="yellow", markup=False, highlight=False, soft_wrap=True)
        if progress is None:
            return
        name = raw_event.get("info", {}).get("name")
        data = raw_event.get("data", {})
        if name == "LogStartLine" and data.get("total"):
            if task is None:
                task = progress.add_task("", total=data["total"])
            node = data.get("node_info", {}).get("node_name", "")
            progress.update(task, total=data["total"], description=node)
        elif name in RESULT_EVENTS and task is not None:
            progress.advance(task)

    _listener = listen
    try:
        with (
            open(os.devnull, "w") as sink,
            contextlib.redirect_stdout(sink),
            progress if progress is not None else contextlib.nullcontext(),
        ):
            yield
    finally:
        _listener = None
        sys.stdout.flush()
