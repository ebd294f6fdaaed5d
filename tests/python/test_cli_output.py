"""What `usage-billing build` prints: by default its result and the invoice summary only (no dbt node lines,
no Dagster warnings or notices, even on a fresh DAGSTER_HOME); with -v, dbt's log; on a failure, the node
that failed, its error and the path of dbt's full log, without a stack trace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SEEDS, Warehouse

USAGE_BILLING = str(Path(sys.executable).parent / "usage-billing")
# A dbt node line as dbt prints it: "12 of 167 START sql table model ...", "12 of 167 OK created ...".
DBT_NODE_LINE = re.compile(r"\b\d+ of \d+ (START|OK|PASS|WARN|ERROR|FAIL|SKIP)\b")
# What Dagster prints on its own: beta warnings, the instance and telemetry notices, its log lines.
DAGSTER_NOISE = ("BetaWarning", "dagster.yaml", "Telemetry", " - dagster - ")


def _build(warehouse: Warehouse, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / f"dagster_home{len(list(tmp_path.glob('dagster_home*')))}"  # a fresh one per run
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [USAGE_BILLING, "build", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _write_events(warehouse: Warehouse) -> None:
    warehouse.write_events(
        "2026-01.ndjson",
        [
            {"event_id": "e1", "account_id": "acct_0001", "timestamp": "2026-01-05T10:00:00Z", "units": 1},
            {"event_id": "e2", "account_id": "acct_0001", "timestamp": "2026-01-06T10:00:00Z", "units": 2},
            "{not json",
        ],
    )


def test_build_prints_its_result_and_the_summary_only(warehouse: Warehouse, tmp_path: Path) -> None:
    _write_events(warehouse)
    quiet = _build(warehouse, tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    output = quiet.stdout + quiet.stderr
    assert not DBT_NODE_LINE.search(output), output
    assert not [noise for noise in DAGSTER_NOISE if noise in output], output
    assert quiet.stderr == "", quiet.stderr
    lines = quiet.stdout.splitlines()
    assert lines[0].startswith("build finished in"), lines[0]
    # The summary: 3 rows read = 2 valid + 0 duplicates + 1 quarantined (the line that is not JSON).
    assert any(
        "3 rows read = 2 valid + 0 duplicates (0 conflicting) + 1 quarantined" in line for line in lines
    )

    # The same command with -v prints dbt's log (so the checks above can fail).
    verbose = _build(warehouse, tmp_path, "-v", "--quiet")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert DBT_NODE_LINE.search(verbose.stdout), verbose.stdout[-2000:]


def test_a_failed_build_names_the_node_its_error_and_the_log(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_events(warehouse)
    broken = tmp_path / "broken_catalog"
    shutil.copytree(SEEDS, broken)
    meters = (broken / "meters.csv").read_text().splitlines()
    assert meters[1].startswith("api_calls,sum,")
    meters[1] = meters[1].replace("api_calls,sum,", "api_calls,median,", 1)
    (broken / "meters.csv").write_text("\n".join(meters) + "\n")
    monkeypatch.setenv("USAGE_BILLING_CATALOG", str(broken))
    run = _build(warehouse, tmp_path, "--quiet")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Stack Trace" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert "int_catalog_errors: Compilation Error" in run.stderr, run.stderr
    assert (
        "meters.csv (api_calls): aggregation median is not one of sum, count, max, unique_count" in run.stderr
    )
    (log,) = re.findall(r"dbt's full log: (\S+)", run.stderr)
    assert Path(log).is_file() and "int_catalog_errors" in Path(log).read_text()
    assert len(run.stderr.splitlines()) <= 10, run.stderr


def test_version() -> None:
    run = subprocess.run([USAGE_BILLING, "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(r"usage-billing \d+\.\d+\.\d+\n", run.stdout), run.stdout
