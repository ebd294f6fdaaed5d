"""Issue 19, items 3 and 6: a killed run loses nothing and doubles nothing, and a full disk fails a build
with one plain line and leaves the warehouse as it was.

Every run is the real `usage-billing` command in its own session (Dagster in process, dbt as its child, the
DuckDB file on disk). A run is killed with SIGKILL to its whole process group, so dbt dies with it, at a
random moment within the measured duration of the same run uninterrupted. The seed is fixed and printed:
`USAGE_BILLING_FAULT_SEED=<n>` replays another draw.

The scenario is incremental: January's events are built and January is closed; then February's files and
late January events arrive (adjustments on a closed month) and are built, and February is closed. An
uninterrupted pass records every mart and the ledger after each step. The faulted pass starts from the same
closed January, kills the second build, the close and then a full refresh several times each, runs each to
completion, and must end with the same tables, row for row (the full refresh where the incremental pass
ended). After every kill the ledger must hold only rows the uninterrupted pass has, each invoice with its
lines.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT

SEED = int(os.environ.get("USAGE_BILLING_FAULT_SEED", "19"))
# Kills per operation of the faulted pass (each then runs once more, to completion).
KILLS = {"build": 2, "close": 2, "full refresh": 2}
# Columns that hold when a run happened rather than what it computed: the time dbt loaded an event file
# (marts.events_quarantined, marts.event_reconciliation). The ledger's closed_at is compared: every close
# here is given --now, so it is the same in both passes.
RUN_TIME_COLUMNS = {"loaded_at"}
CLOSE_JANUARY = ["close", "--period", "2026-01", "--force", "--now", "2026-02-10T00:00:00"]
CLOSE_FEBRUARY = ["close", "--period", "2026-02", "--force", "--now", "2026-03-10T00:00:00"]
BUILD = ["build", "--quiet"]
FULL_REFRESH = ["build", "--quiet", "--full-refresh"]
FIRST_BATCH = ["events_2026-01_001.ndjson"]
# February, and January events that arrive after January closed.
SECOND_BATCH = ["events_2026-01_002.ndjson", "events_2026-02_001.ndjson", "events_2026-02_002.ndjson"]


def snapshot(db_path: Path) -> dict[str, tuple[list[str], Counter]]:
    """Every table of marts and ledger: its columns (less RUN_TIME_COLUMNS) and its rows as a multiset."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'ledger') order by all"
        ).fetchall()
        out = {}
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if c not in RUN_TIME_COLUMNS
            ]
            quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
            rows = con.execute(f'select {quoted} from "{schema}"."{table}"').fetchall()
            out[f"{schema}.{table}"] = (columns, Counter(repr(r) for r in rows))
        return out
    finally:
        con.close()


def differences(expected: dict, got: dict) -> list[str]:
    """What differs, table by table: missing or extra tables, other columns, rows missing or extra."""
    out = [f"table missing: {t}" for t in sorted(set(expected) - set(got))]
    out += [f"table not expected: {t}" for t in sorted(set(got) - set(expected))]
    for table in sorted(set(expected) & set(got)):
        (cols_e, rows_e), (cols_g, rows_g) = expected[table], got[table]
        if cols_e != cols_g:
            out.append(f"{table}: columns {cols_g} instead of {cols_e}")
        elif rows_e != rows_g:
            lost, extra = rows_e - rows_g, rows_g - rows_e
            out.append(
                f"{table}: {sum(lost.values())} row(s) lost, {sum(extra.values())} extra "
                f"(e.g. lost {list(lost)[:1]}, extra {list(extra)[:1]})"
            )
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def process_group_members(pgid: int) -> list[str]:
    """Processes of a process group that may still hold files open, from /proc. A killed process's main
    thread turns zombie before its other threads have exited and closed its files (DuckDB's lock among
    them), so a zombie counts until it is the last of its threads."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            threads = len(list((entry / "task").iterdir()))
        except OSError:
            continue
        if int(pgrp) == pgid and (state != "Z" or threads > 1):
            members.append(f"{entry.name} {stat.split(' ', 2)[1]} {state} ({threads} threads)")
    return members


@dataclass
class Scene:
    root: Path
    events_dir: Path
    generated: Path
    db_path: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    runs: int = 0
    states: dict[str, Path] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)

    def start(self, args: list[str]) -> tuple[subprocess.Popen, Path]:
        """`usage-billing ARGS` in a new session (its own process group), output to a log file."""
        self.runs += 1
        log = self.root / "logs" / f"{self.runs:02d}-{args[0]}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", *args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return proc, log

    def run(self, args: list[str], *, expect: int = 0) -> tuple[float, str]:
        started = time.monotonic()
        proc, log = self.start(args)
        code = proc.wait(timeout=600)
        elapsed = time.monotonic() - started
        output = log.read_text()
        assert code == expect, f"usage-billing {' '.join(args)} exited {code}:\n{output[-4000:]}"
        return elapsed, output

    def save(self, name: str) -> None:
        copy = self.root / "states" / f"{name}.duckdb"
        copy.parent.mkdir(exist_ok=True)
        assert not Path(str(self.db_path) + ".wal").exists()
        shutil.copyfile(self.db_path, copy)
        self.states[name] = copy

    def put_back(self, name: str) -> None:
        for leftover in self.db_path.parent.iterdir():
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        shutil.copyfile(self.states[name], self.db_path)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Scene:
    """The uninterrupted pass; the warehouse after each step is kept under states/."""
    root = tmp_path_factory.mktemp("faults")
    events_dir, db_dir = root / "events", root / "warehouse"
    events_dir.mkdir()
    db_dir.mkdir()
    (root / "dagster_home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_BILLING_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        DAGSTER_HOME=str(root / "dagster_home"),
        USAGE_BILLING_EVENTS=str(events_dir) + "/**/*",
        USAGE_BILLING_DUCKDB=str(db_dir / "warehouse.duckdb"),
    )
    scene = Scene(root, events_dir, root / "generated", db_dir / "warehouse.duckdb", env)
    # 3,000 events of 8 accounts over January and February, with re-sends, conflicts, late and bad lines.
    scene.run(
        ["generate-events", "--events", "3000", "--accounts", "8", "--months", "2", "--seed", "1"]
        + ["--out", str(scene.generated)]
    )
    for name in FIRST_BATCH:
        shutil.copyfile(scene.generated / name, events_dir / name)
    scene.run(BUILD)
    scene.run(CLOSE_JANUARY)
    scene.save("january closed")
    for name in SECOND_BATCH:
        shutil.copyfile(scene.generated / name, events_dir / name)
    scene.durations["build"], _ = scene.run(BUILD)
    scene.save("second batch built")
    scene.durations["close"], _ = scene.run(CLOSE_FEBRUARY)
    scene.save("february closed")
    # A full refresh reads every file, the second build only the new ones: its kills are drawn within the
    # second build's duration, so they all fall inside it. Its rerun must end where the incremental pass did.
    scene.durations["full refresh"] = scene.durations["build"]
    return scene


def test_uninterrupted_pass_covers_the_scenario(scene: Scene) -> None:
    """The uninterrupted pass bills late events of a closed month as adjustments, and closes February."""
    built = snapshot(scene.states["second batch built"])
    adjustments = [r for r in built["marts.fct_invoice_lines"][1] if "'adjustment'" in r]
    assert adjustments, "the late January events should give adjustment lines on February's invoices"
    assert built["ledger.final_invoices"][1], "January should be in the ledger"
    closed = snapshot(scene.states["february closed"])
    assert sum(closed["ledger.final_invoices"][1].values()) > sum(built["ledger.final_invoices"][1].values())


def ledger_is_whole(db_path: Path, final: dict) -> list[str]:
    """After a kill: every ledger row is one the uninterrupted pass has (none doubled, none half-written),
    and each closed invoice has its lines and no line lacks its invoice."""
    con = duckdb.connect(str(db_path), read_only=True)  # replays a WAL the killed run left
    try:
        invoices = {i for (i,) in con.execute("select invoice_id from ledger.final_invoices").fetchall()}
        line_invoices = {
            i for (i,) in con.execute("select distinct invoice_id from ledger.final_invoice_lines").fetchall()
        }
    finally:
        con.close()
    now = snapshot(db_path)
    problems = []
    for table in ("ledger.final_invoices", "ledger.final_invoice_lines"):
        extra = now[table][1] - final[table][1]
        if extra:
            problems.append(f"{table}: {sum(extra.values())} row(s) the uninterrupted pass does not have")
    if invoices != line_invoices:
        problems.append(f"invoices without lines or lines without invoice: {invoices ^ line_invoices}")
    return problems


def test_killed_runs_lose_nothing_and_double_nothing(scene: Scene, capsys: pytest.CaptureFixture) -> None:
    rng = random.Random(SEED)
    kills: list[str] = []

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"[faults] {line}", flush=True)

    say(
        f"seed {SEED} (USAGE_BILLING_FAULT_SEED); uninterrupted durations: "
        + ", ".join(f"{op} {s:.1f} s" for op, s in scene.durations.items())
    )
    final_ledger = snapshot(scene.states["february closed"])
    scene.put_back("january closed")
    steps = [
        ("build", BUILD, "second batch built"),
        ("close", CLOSE_FEBRUARY, "february closed"),
        ("full refresh", FULL_REFRESH, "february closed"),
    ]
    for op, args, expected_state in steps:
        for _ in range(KILLS[op]):
            # Within the run: the last 15 % of the measured duration often lands after a run's end.
            delay = rng.uniform(0, 0.85 * scene.durations[op])
            proc, log = scene.start(args)
            try:
                proc.wait(timeout=delay)
                say(f"{op}: finished before the kill at {delay:.2f} s (exit {proc.returncode}); not counted")
                assert proc.returncode == 0, log.read_text()[-4000:]
                continue
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # dbt, Dagster's child, must be gone too: a survivor would hold the warehouse's lock.
            deadline = time.monotonic() + 10
            while process_group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert process_group_members(proc.pid) == [], "a process survived SIGKILL of its group"
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            where = lines[-1][:110] if lines else "(no output yet)"
            kills.append(op)
            say(f"kill {len(kills)}: {op} at {delay:.2f} s of {scene.durations[op]:.1f} s, during: {where}")
            assert ledger_is_whole(scene.db_path, final_ledger) == [], f"after kill {len(kills)} ({op})"
        scene.run(args)
        assert warehouse_files(scene.db_path.parent) == ["entitlements.json", "warehouse.duckdb"], (
            "a WAL or spill folder was left behind"
        )
        got, expected = snapshot(scene.db_path), snapshot(scene.states[expected_state])
        assert differences(expected, got) == [], f"after the kills of the {op} and a complete rerun"
        say(f"{op}: rerun to completion equals the uninterrupted pass ({len(expected)} tables)")
    say(f"{len(kills)} random kill point(s) tried: " + ", ".join(f"{op} {kills.count(op)}" for op in KILLS))
    assert len(kills) >= 4, "too few runs were killed to prove anything: the draws fell after the runs"


def mount_tmpfs(path: Path, size: int, *, remount: bool = False) -> None:
    size = -(-size // 4096) * 4096  # whole pages
    options = f"remount,size={size}" if remount else f"size={size}"
    command = ["mount", "-o", options, str(path)] if remount else ["mount", "-t", "tmpfs", "-o", options]
    if not remount:
        command += ["tmpfs", str(path)]
    subprocess.run(command, check=True)


def last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def warehouse_files(folder: Path) -> list[str]:
    """The files in the warehouse's folder, but the lock file (orchestration/warehouse/warehouse_lock.py). Each build and
    close also publishes the gateway's entitlements.json there (orchestration/readers/entitlements.py)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_full_disk_fails_plainly_and_changes_nothing(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The warehouse on a small tmpfs: a build that clearly cannot fit is refused before it starts; one that
    passes the check but fills the disk fails with one line and its changes are undone (the warehouse is as
    it was); with more room, a rerun ends equal to the uninterrupted pass."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    from orchestration.warehouse import disk

    db_dir = scene.db_path.parent
    january = scene.states["january closed"]
    before = snapshot(january)
    # The tmpfs is mounted over the warehouse folder: the same path, so dbt's manifest stays valid.
    monkeypatch.setenv("USAGE_BILLING_EVENTS", scene.env["USAGE_BILLING_EVENTS"])
    mount_tmpfs(db_dir, january.stat().st_size + 2**20)
    try:
        shutil.copyfile(january, scene.db_path)
        digest = sha256(scene.db_path)
        need = disk.space_needed(scene.db_path)
        assert need.files == len(SECOND_BATCH)

        # 1. Clearly too small: half the check's lower bound free. Refused before anything is touched.
        mount_tmpfs(db_dir, scene.db_path.stat().st_size + need.growth // 2, remount=True)
        _, output = scene.run(BUILD, expect=1)
        assert last_line(output).startswith(f"build refused: the device holding {scene.db_path} has ")
        assert last_line(output).endswith("free space and run again: nothing was changed")
        assert sha256(scene.db_path) == digest
        assert warehouse_files(db_dir) == ["warehouse.duckdb"]

        # 2. Room for the check's lower bound and 64 KiB more: the build starts and the disk fills.
        mount_tmpfs(db_dir, scene.db_path.stat().st_size + need.growth + 2**16, remount=True)
        # -v: dbt's and Dagster's logs, where the operating system's own error shows.
        _, output = scene.run([*BUILD, "-v"], expect=1)
        assert "No space left on device" in output, "the disk did not fill during the build"
        assert "build refused" not in output
        line = last_line(output)
        assert line.startswith(f"build failed: no space left on the device holding {scene.db_path} ("), line
        assert line.endswith("free now); free space and run again: the warehouse is as it was before the run")
        # The build's log is gone (its blocks may remain in the file, unreferenced, for DuckDB to reuse).
        assert warehouse_files(db_dir) == ["warehouse.duckdb"]
        assert differences(before, snapshot(scene.db_path)) == []

        # 3. More room: the same build ends as the uninterrupted pass did.
        mount_tmpfs(db_dir, 256 * 2**20, remount=True)
        scene.run(BUILD)
        assert differences(snapshot(scene.states["second batch built"]), snapshot(scene.db_path)) == []
        with capsys.disabled():
            print(f"[faults] full disk: refused, then failed and undone, then built ({need})", flush=True)
    finally:
        subprocess.run(["umount", str(db_dir)], check=True)
