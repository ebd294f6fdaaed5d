"""The project's generic data tests fail when they must: `unique_combination` (a hash pass, then an exact
pass on the rows whose hash repeats) reports every repeated combination, nulls comparing equal, and passes
on distinct rows; dbt's `unique`, which the project runs the same way on DuckDB (`macros/unique_test.sql`),
reports every repeated value and ignores nulls. Run through dbt itself, in a throw-away project that uses the
repository's macros and generic tests over a small seed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
from conftest import REPO_ROOT

# (k1, k2): (a, 1) three times, (b, null) twice: two repeated combinations, with 3 and 2 rows.
# (a, 2), (c, 1) and (null, 1) occur once each.
ROWS = ["a,1", "a,1", "a,1", "a,2", "b,", "b,", "c,1", ",1"]
DISTINCT_ROWS = ["a,1", "a,2", "b,", "c,1", ",1"]

UNIQUE_COMBINATION = (
    "      - unique_combination:\n          arguments:\n            columns: [k1, k2]\n"
    "          config:\n            store_failures: true\n            schema: failures\n"
)
# dbt's `unique` on k2: 1 four times in ROWS, 2 once, null twice (nulls are not values).
UNIQUE_K2 = (
    "    columns:\n      - name: k2\n        data_tests:\n          - unique:\n"
    "              config:\n                store_failures: true\n                schema: failures\n"
)


def _project(tmp_path: Path, rows: list[str], data_tests: str = UNIQUE_COMBINATION) -> Path:
    project = tmp_path / "project"
    (project / "seeds").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "macros").symlink_to(REPO_ROOT / "macros")
    (project / "tests" / "generic").symlink_to(REPO_ROOT / "tests" / "generic")
    # The macros are called as usage_billing.*, so the project keeps the name.
    (project / "dbt_project.yml").write_text(
        "name: usage_billing\nversion: '1.0'\nconfig-version: 2\nprofile: generic_tests\n"
        "seed-paths: [seeds]\nmacro-paths: [macros]\ntest-paths: [tests]\n"
        "seeds:\n  usage_billing:\n    +column_types: {k1: varchar, k2: integer}\n"
    )
    (project / "seeds" / "pairs.csv").write_text("k1,k2\n" + "\n".join(rows) + "\n")
    model_tests = "    data_tests:\n" + data_tests if data_tests.startswith("      -") else data_tests
    (project / "seeds" / "_seeds.yml").write_text("version: 2\nseeds:\n  - name: pairs\n" + model_tests)
    (project / "profiles.yml").write_text(
        "generic_tests:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {json.dumps(str(tmp_path / 'warehouse.duckdb'))}\n      threads: 1\n"
    )
    return project


def _build(project: Path) -> tuple[int, dict]:
    from orchestration.code_location.resources import dbt_executable

    done = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--target-path",  # not DBT_TARGET_PATH, which names this process's target folder of the main project
            str(project / "target"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    results = json.loads((project / "target" / "run_results.json").read_text())
    tests = [r for r in results["results"] if r["unique_id"].startswith("test.")]
    assert len(tests) == 1, done.stdout[-3000:]
    return done.returncode, tests[0]


def test_unique_combination_reports_each_repeated_combination(tmp_path):
    project = _project(tmp_path, ROWS)
    code, result = _build(project)
    assert code != 0
    assert result["status"] == "fail"
    assert result["failures"] == 2  # (a, 1) and (b, null); the three single rows are not reported
    assert _stored_failures(tmp_path, "k1, k2, row_count", "k1") == [("a", 1, 3), ("b", None, 2)]


def _stored_failures(tmp_path: Path, columns: str, order_by: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        table = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema like '%failures'"
        ).fetchall()
        assert len(table) == 1
        schema, name = table[0]
        return con.execute(f'select {columns} from "{schema}"."{name}" order by {order_by}').fetchall()
    finally:
        con.close()


def test_unique_combination_passes_distinct_rows(tmp_path):
    project = _project(tmp_path, DISTINCT_ROWS)
    code, result = _build(project)
    assert code == 0
    assert result["status"] == "pass"
    assert result["failures"] == 0


def test_unique_reports_each_repeated_value_and_ignores_nulls(tmp_path):
    project = _project(tmp_path, ROWS + ["d,2"], UNIQUE_K2)
    code, result = _build(project)
    # It is the project's two-pass version that ran, not dbt's own.
    compiled = list((project / "target" / "compiled").rglob("unique_pairs_k2.sql"))
    assert len(compiled) == 1 and "repeated_hashes" in compiled[0].read_text()
    assert code != 0
    assert result["status"] == "fail"
    # k2 = 1 in (a,1) x3, (c,1) and (,1): 5 rows; k2 = 2 in (a,2) and (d,2): 2 rows; two nulls ignored.
    assert result["failures"] == 2
    assert _stored_failures(tmp_path, "unique_field, n_records", "unique_field") == [(1, 5), (2, 2)]


def test_unique_passes_distinct_values_with_repeated_nulls(tmp_path):
    # k2: 1, 2, null, null: the two nulls are not a repeat.
    project = _project(tmp_path, ["a,1", "b,2", "c,", "d,"], UNIQUE_K2)
    code, result = _build(project)
    assert code == 0
    assert result["status"] == "pass"
    assert result["failures"] == 0
