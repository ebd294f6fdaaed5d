"""The reconciliation summary ``generate_events`` returns: per file and overall, following E2/E3 (a line is
valid, a duplicate of a kept copy, or malformed; blank lines are not rows)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from orchestration.generator.faults import DeliveryFaults
from orchestration.generator.traffic import (
    KIND_BLANK,
    KIND_CONFLICT,
    KIND_MALFORMED,
    KIND_RESEND,
    KIND_VALID,
    MALFORMED_KINDS,
)
from orchestration.generator.writers import FileLayout


class FileTallies(NamedTuple):
    lines_by_kind: np.ndarray  # (files, 5): lines of each KIND_* per file
    duplicates: np.ndarray  # per file: lines that are not the kept copy of their event
    conflicts: np.ndarray  # per file: duplicates whose content differs from the kept copy
    conflict_copy_kept: np.ndarray  # per conflict: the later line is the kept one (its timestamp is earlier)


def tally_files(
    layout: FileLayout, row_kind: np.ndarray, n_events: int, faults: DeliveryFaults, base_ts: np.ndarray
) -> FileTallies:
    """Lines [0, n_events) are the base rows, then the re-sends, then the conflicting copies, then blanks."""
    n_files, total = len(layout.names), len(row_kind)
    n_res, n_con = len(faults.resend_src), len(faults.conflict_src)
    file_of_row = np.empty(total, np.int32)
    file_of_row[layout.order] = np.repeat(np.arange(n_files), np.diff(layout.bounds))
    dup = np.zeros(total, bool)
    dup[n_events : n_events + n_res] = True
    conflict_dup = np.zeros(total, bool)
    con_src = faults.conflict_src
    copy_kept = faults.conflicts["ts"] < base_ts[con_src]
    # conflicting copy kept -> the original line is the duplicate
    con_rows = np.arange(n_events + n_res, n_events + n_res + n_con)
    dup[con_rows[~copy_kept]] = True
    conflict_dup[con_rows[~copy_kept]] = True
    dup[con_src[copy_kept]] = True
    conflict_dup[con_src[copy_kept]] = True
    lines_by_kind = np.bincount(file_of_row.astype(np.int64) * 5 + row_kind, minlength=n_files * 5)
    return FileTallies(
        lines_by_kind.reshape(n_files, 5),
        np.bincount(file_of_row[dup], minlength=n_files),
        np.bincount(file_of_row[conflict_dup], minlength=n_files),
        copy_kept,
    )


def per_file_summary(paths: list[Path], tallies: FileTallies) -> dict[str, dict[str, int]]:
    per_file = {}
    for fi, path in enumerate(paths):
        kc = tallies.lines_by_kind[fi]
        rows_f = int(kc[KIND_VALID] + kc[KIND_RESEND] + kc[KIND_CONFLICT] + kc[KIND_MALFORMED])
        per_file[str(path)] = {
            "lines": int(kc.sum()),
            "rows": rows_f,
            "blank": int(kc[KIND_BLANK]),
            "valid": int(rows_f - kc[KIND_MALFORMED] - tallies.duplicates[fi]),
            "duplicate": int(tallies.duplicates[fi]),
            "conflict": int(tallies.conflicts[fi]),
            "malformed": int(kc[KIND_MALFORMED]),
        }
    return per_file


def event_counts(
    base: dict[str, np.ndarray],
    row_kind: np.ndarray,
    faults: DeliveryFaults,
    tallies: FileTallies,
    n_known: int,
    test_idx: np.ndarray,
) -> dict[str, int]:
    """The summary's ``counts`` (see ``generate_events``)."""
    n_res, n_con = len(faults.resend_src), len(faults.conflict_src)
    n_blank = int((row_kind == KIND_BLANK).sum())
    valid_rows = base["kind"] == KIND_VALID
    n_valid = int(valid_rows.sum())
    n_mal = int((base["kind"] == KIND_MALFORMED).sum())
    return {
        "rows": len(row_kind) - n_blank,
        "lines": len(row_kind),
        "valid": n_valid,
        "duplicate": n_res + n_con,
        "resend": n_res,
        "conflict": n_con,
        "conflict_copy_kept": int(tallies.conflict_copy_kept.sum()),
        "malformed": n_mal,
        "blank": n_blank,
        "late": len(faults.late_idx),
        "unknown_account": int((valid_rows & (base["acct"] >= n_known)).sum()),
        "test_account": int(np.isin(base["acct"][valid_rows], test_idx).sum()),
        "aliased": int((valid_rows & (base["akey"] > 0)).sum()),
        "without_event_id": int((valid_rows & (base["idstyle"] == 1)).sum()),
        "empty_event_id": int((valid_rows & (base["idstyle"] == 2)).sum()),
        "non2xx": int((valid_rows & ((base["status"] < 200) | (base["status"] > 299))).sum()),
    }


def malformed_by_kind(base: dict[str, np.ndarray]) -> dict[str, int]:
    mal_rows = base["kind"] == KIND_MALFORMED
    counts = np.bincount(base["mkind"][mal_rows].astype(np.int64), minlength=len(MALFORMED_KINDS))
    return {name: int(counts[i]) for i, name in enumerate(MALFORMED_KINDS)}
