"""Issue 19, items 4 and 5: any dbt thread count gives the same warehouse, and overlapping writers wait for
each other (orchestration/warehouse/warehouse_lock.py, dagster.yaml) instead of failing on DuckDB's file lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import REPO_ROOT

from orchestration.warehouse.project import target_dir
from orchestration.warehouse.warehouse_lock import EXIT_BUSY, warehouse_lock

# Tables compared row for row; loaded_at is when a file was read, so it differs from build to build.
COMPARED = ("marts.fct_invoices", "marts.fct_invoice_lines", "marts.event_reconciliation")
DEADLOCK_GUARD = 600  # seconds: only so that a hung build fails the test instead of hanging it


def machine_cores() -> int:
    return len(os.sched_getaffinity(0))


def marts(db_path: Path) -> dict[str, list[tuple]]:
    """Every table of the marts schema, rows sorted, build times (loaded_at) left out."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        snapshot = {}
        for table in tables:
            columns = [
                c for (c,) in con.execute(f"select column_name from (describe marts.{table})").fetchall()
            ]
            exclude = " exclude (loaded_at)" if "loaded_at" in columns else ""
            snapshot[f"marts.{table}"] = con.execute(
                f"select *{exclude} from marts.{table} order by all"
            ).fetchall()
        snapshot["staged rows"] = con.execute(
            "select source_file, count(*), count(distinct loaded_at) "
            "from staging.stg_raw_events__usage_events group by all order by all"
        ).fetchall()
        return snapshot
    finally:
        con.close()


def dbt_threads_of_run(run_id: str) -> int:
    """The threads dbt ran with, from the run_results.json of the dbt asset's invocation in that run."""
    (results,) = target_dir().glob(f"usage_billing_dbt_assets-{run_id[:7]}-*/run_results.json")
    return json.loads(results.read_text())["args"]["threads"]


def build_in_process(root: Path, events_glob: str, threads: str) -> tuple[Path, str]:
    """raw_events + the dbt assets through Dagster in process (as conftest's Warehouse.build does)."""
    from orchestration.code_location.assets.dbt import usage_billing_dbt_assets
    from orchestration.code_location.assets.raw_events import raw_events
    from orchestration.code_location.resources import dbt_resource

    db_path = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("USAGE_BILLING_EVENTS", events_glob)
        mp.setenv("USAGE_BILLING_DUCKDB", str(db_path))
        mp.delenv("USAGE_BILLING_CATALOG", raising=False)  # the sample catalog in seeds/
        mp.setenv("USAGE_BILLING_DBT_THREADS", threads)
        result = dg.materialize(
            [raw_events, usage_billing_dbt_assets],
            resources={"dbt": dbt_resource()},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=True,
        )
    assert result.success
    return db_path, result.run_id


@pytest.fixture(scope="module")
def events_glob(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A few thousand generated events over three months, with re-sends, conflicts and bad lines."""
    from orchestration.generator import generate_events

    out = tmp_path_factory.mktemp("events")
    generate_events(out, events=2_000, accounts=8, months=3, seed=19)
    return str(out) + "/**/*"


@pytest.fixture(scope="module")
def one_thread_build(tmp_path_factory: pytest.TempPathFactory, events_glob: str) -> Path:
    """The reference: one build with a single dbt thread."""
    db_path, run_id = build_in_process(tmp_path_factory.mktemp("one_thread"), events_glob, "1")
    assert dbt_threads_of_run(run_id) == 1
    return db_path


def test_held_outputs_are_yielded_in_the_manifest_topological_order(dbt_manifest: Path) -> None:
    from orchestration.code_location.assets.dbt import in_topological_order

    manifest = json.loads(dbt_manifest.read_text())
    models = sorted(
        uid for uid, node in manifest["nodes"].items() if node["resource_type"] in ("model", "seed")
    )
    # Dependents first: the order in which Dagster refused fct_monthly_revenue before fct_invoices.
    outputs = [dg.Output(None, output_name=uid.split(".")[-1], metadata={"unique_id": uid}) for uid in models]
    outputs.sort(key=lambda o: o.output_name, reverse=True)
    ordered = [o.metadata["unique_id"].value for o in in_topological_order(outputs, manifest)]

    assert sorted(ordered) == models
    position = {uid: i for i, uid in enumerate(ordered)}
    for uid in ordered:  # every ancestor that is an output, also through ephemeral models, comes first
        stack, seen = list(manifest["parent_map"][uid]), set()
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            stack += manifest["parent_map"].get(parent, [])
            if parent in position:
                assert position[parent] < position[uid], f"{parent} after its dependent {uid}"
    assert position["model.usage_billing.fct_invoices"] < position["model.usage_billing.fct_monthly_revenue"]


def test_dbt_threads_follow_the_machine_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.code_location.assets.dbt import dbt_threads

    monkeypatch.delenv("USAGE_BILLING_DBT_THREADS", raising=False)
    assert dbt_threads() == machine_cores()
    monkeypatch.setenv("USAGE_BILLING_DBT_THREADS", "8")
    assert dbt_threads() == 8
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("USAGE_BILLING_DBT_THREADS", bad)
        with pytest.raises(dg.Failure, match="USAGE_BILLING_DBT_THREADS"):
            dbt_threads()


def test_eight_threads_build_the_same_marts_as_one(
    tmp_path: Path, events_glob: str, one_thread_build: Path
) -> None:
    db_path, run_id = build_in_process(tmp_path, events_glob, "8")
    assert dbt_threads_of_run(run_id) == 8

    eight, one = marts(db_path), marts(one_thread_build)
    assert eight.keys() == one.keys()
    assert len(eight) > 10  # every mart, not an empty schema
    assert eight["marts.fct_invoice_lines"], "the build priced the generated events"
    for table, rows in one.items():
        assert eight[table] == rows, table


def cli(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", *args], cwd=REPO_ROOT, env=env, text=True, **kwargs
    )


@pytest.fixture
def cli_env(tmp_path: Path, events_glob: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGE_BILLING_", "DAGSTER_HOME"))}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        USAGE_BILLING_EVENTS=events_glob,
        USAGE_BILLING_DUCKDB=str(tmp_path / "warehouse.duckdb"),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
    )
    return env


class StderrReader:
    """Drains a process's stderr on a thread (a full pipe would stall it) and flags the waiting line."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.lines.append(line)
            if "waiting for the warehouse" in line:
                self.waiting.set()
        self.waiting.set()  # the process ended without waiting: the assertions below say so


def test_two_cli_builds_at_once_wait_for_each_other(
    tmp_path: Path, cli_env: dict[str, str], one_thread_build: Path
) -> None:
    db_path = Path(cli_env["USAGE_BILLING_DUCKDB"])
    me = f"pytest (pid {os.getpid()})"
    with warehouse_lock(db_path, me):  # both builds start while the warehouse is taken: they must overlap
        builds = [
            cli(
                "build",
                "--quiet",
                env=cli_env,
                stdout=(tmp_path / f"build{i}.out").open("w"),
                stderr=subprocess.PIPE,
            )
            for i in (1, 2)
        ]
        readers = [StderrReader(p) for p in builds]
        for reader in readers:
            assert reader.waiting.wait(DEADLOCK_GUARD)
        waiting_lines = [[line for line in r.lines if "waiting for the warehouse" in line] for r in readers]
        assert all(p.poll() is None for p in builds), "".join(readers[0].lines + readers[1].lines)
        assert not db_path.exists(), "nothing was written while the lock was held"
    for lines in waiting_lines:  # one line each, naming the holder
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"build: waiting for the warehouse {db_path}, held by {me} since "), lines
    for process, reader in zip(builds, readers, strict=True):
        assert process.wait(DEADLOCK_GUARD) == 0, "".join(reader.lines[-30:])
        reader.thread.join()

    # One build loaded every file; the other found nothing new. The warehouse is a single build's.
    cli_marts, reference = marts(db_path), marts(one_thread_build)
    for table in (*COMPARED, "staged rows"):
        assert cli_marts[table] == reference[table], table
    assert reference["marts.fct_invoices"]
    # The CLI's default: dbt ran with as many threads as the machine has cores.
    for i in (1, 2):
        run_id = (tmp_path / f"build{i}.out").read_text().split("(run ")[1].split(")")[0]
        assert dbt_threads_of_run(run_id) == machine_cores()


def test_no_wait_exits_75_naming_the_writer(tmp_path: Path, cli_env: dict[str, str]) -> None:
    db_path = Path(cli_env["USAGE_BILLING_DUCKDB"])
    with warehouse_lock(db_path, "usage-billing close (pid 4242)"):
        for command in (["build"], ["close", "--period", "2026-01"], ["export", "--period", "2026-01"]):
            out, err = cli(
                *command, "--no-wait", env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            ).communicate(timeout=DEADLOCK_GUARD)
            assert err.splitlines() == [
                f"{command[0]}: the warehouse {db_path} is held by usage-billing close (pid 4242) since "
                + err.split(" since ")[1].split(";")[0]
                + "; run again once it is free, or without --no-wait to wait for it"
            ], err
            assert out == ""
    assert not db_path.exists()


@pytest.fixture
def written_warehouse(tmp_path: Path, one_thread_build: Path) -> Iterator[Path]:
    """A copy of the reference warehouse, open for writing by this process under the warehouse lock."""
    db_path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(one_thread_build, db_path)
    with warehouse_lock(db_path, "usage-billing build (pid 4242)"):
        con = duckdb.connect(str(db_path))
        try:
            yield db_path
        finally:
            con.close()


def test_readers_say_in_one_line_that_the_warehouse_is_being_written(
    written_warehouse: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "USAGE_BILLING_DUCKDB": str(written_warehouse)}
    out_file = written_warehouse.with_name("statement.html")
    readers = {
        "summary": ["summary"],
        "review": ["review", "--period", "2026-01"],
        "explain": ["explain", "some-line-id"],
        "statement": ["statement", "--account", "acct_0001", "--period", "2026-01", "--out", str(out_file)],
    }
    for name, args in readers.items():
        process = cli(*args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=DEADLOCK_GUARD)
        assert process.returncode == EXIT_BUSY, (name, err)
        (line,) = err.splitlines()
        assert line.startswith(
            f"{name}: the warehouse {written_warehouse} is being written "
            "(held by usage-billing build (pid 4242) since "
        ), line
        assert line.endswith("); try again once it is free")
        assert out == ""


def test_cli_and_dagster_dev_queue_warehouse_runs_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._cli.utils import get_possibly_temporary_instance_for_cli

    from orchestration.cli import _instance
    from orchestration.code_location.definitions import WAREHOUSE_TAG, defs

    limit = [{"key": "usage_billing/warehouse", "limit": 1}]
    # The CLI: storage in DAGSTER_HOME, settings from the repository's dagster.yaml.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    cli_instance = _instance()
    assert cli_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == limit
    # `dagster dev` in the repository root without DAGSTER_HOME: the way it loads its instance.
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.chdir(REPO_ROOT)
    with get_possibly_temporary_instance_for_cli("dagster dev") as dev_instance:
        assert type(dev_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert dev_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == limit
    # ... and every job carries the tag the limit applies to.
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    assert {job.name for job in jobs} >= {"build_job", "close_job", "push_job", "export_job"}
    for job in jobs:
        assert job.tags.items() >= WAREHOUSE_TAG.items(), job.name
