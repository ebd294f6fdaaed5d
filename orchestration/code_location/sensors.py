"""The sensor on the raw events location: new files start a build run; loaded files that change raise.

The cursor is a JSON object {file path: size in bytes} of every file the sensor has already handed to a
build run. Each evaluation lists the files the events glob matches and:

- files not in the cursor form one batch: one `build_job` run, with a run key made of the batch's paths
  and sizes, so the same file never triggers a second run (Dagster drops a run request whose key it has
  already seen for this sensor);
- a file in the cursor that is gone, or whose size changed, fails the evaluation with a message naming
  it. The staging model loads a file once, so a vanished or shrunk file cannot be un-billed by a rebuild,
  and lines appended to a loaded file would never be read: a person must look, nothing is rebuilt. The
  sensor keeps failing until the file is back as it was, or until an operator sets the cursor to the
  files as they now are (Dagster UI: the sensor's page, "Set cursor"; or reset it to re-read the folder).

On its first evaluation (no cursor yet) the files the warehouse has already loaded count as handed over,
so turning the sensor on beside an existing warehouse does not start a build for them.
"""

from __future__ import annotations

import hashlib
import json
import os

import dagster as dg

from orchestration.code_location.assets.raw_events import gateway_log_files, list_event_files, loaded_files
from orchestration.events import intake
from orchestration.warehouse.project import events_glob


class EventFilesChanged(Exception):
    """Files already loaded vanished or changed size: an alert, never a silent rebuild."""


def sensor_interval_seconds() -> int:
    return int(os.environ.get("USAGE_BILLING_SENSOR_INTERVAL", "30"))


def batch_run_key(files: dict[str, int]) -> str:
    digest = hashlib.sha256("\n".join(f"{p}\t{n}" for p, n in sorted(files.items())).encode()).hexdigest()
    return f"raw-events-{digest[:16]}"


def changed_files(known: dict[str, int], present: dict[str, int]) -> list[str]:
    """Problems with files already handed to a build, in words (empty when there are none)."""
    problems = []
    for path, size in sorted(known.items()):
        if path not in present:
            problems.append(f"{path} vanished after it was loaded ({size:,} bytes)")
        elif present[path] < size:
            problems.append(f"{path} shrank after it was loaded: {size:,} → {present[path]:,} bytes")
        elif present[path] > size:
            problems.append(
                f"{path} grew after it was loaded: {size:,} → {present[path]:,} bytes "
                "(appended lines are never read: write new files instead)"
            )
    return problems


@dg.sensor(
    job_name="build_job",
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Watches USAGE_BILLING_EVENTS and the gateway logs of the catalog's event_sources.csv: one build_job "
        "run per batch of new event files (run key per batch). "
        "A loaded file that vanishes or changes size fails the evaluation with its name."
    ),
)
def raw_events_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    present = {path: intake.file_size(path) for path in list_event_files()}
    present |= {name: intake.file_size(path) for name, path in gateway_log_files().items()}
    if context.cursor:
        known: dict[str, int] = json.loads(context.cursor)
    else:
        try:
            loaded = loaded_files()
        except Exception as e:  # the warehouse is locked by a running build: decide next time
            return dg.SkipReason(f"first evaluation: cannot read the warehouse yet ({e.__class__.__name__})")
        known = {path: size for path, size in present.items() if path in loaded}
    problems = changed_files(known, present)
    if problems:
        raise EventFilesChanged(
            f"{len(problems)} event file(s) changed after loading; no build was started: "
            + "; ".join(problems)
        )
    new = {path: size for path, size in present.items() if path not in known}
    cursor = json.dumps({**known, **new}, sort_keys=True)
    if not new:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no new event files ({len(present)} known, glob {events_glob()!r})"),
            cursor=cursor,
        )
    context.log.info(f"{len(new)} new event file(s), {sum(new.values()):,} bytes: {', '.join(sorted(new))}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=batch_run_key(new),
                tags={"usage_billing/new_files": str(len(new))},
            )
        ],
        cursor=cursor,
    )
