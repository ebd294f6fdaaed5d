"""Finance export of one billing month: the closed invoices and their lines, exactly as the close ledger
froze them, plus a control file. The files depend only on the ledger (append-only), so exporting a closed
month again gives byte-identical files.

Layout: `<out>/<YYYY-MM>/<format>/invoices.<ext>`, `invoice_lines.<ext>`, `control.json`.
Column order is fixed by INVOICE_COLUMNS and LINE_COLUMNS below (documented in docs/operations.md).
Only final (closed) invoices are exported; open invoices of the month are counted in the control file
as `open_invoices_not_exported` and named in the log.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.stripe.ledger import month_range

FORMATS = ("csv", "parquet")

# (name, arrow type). Money columns are written with the currency's minor units in CSV; Parquet keeps the
# warehouse's exact decimal types.
INVOICE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("invoice_id", pa.string()),
    ("account_id", pa.string()),
    ("period_start", pa.date32()),
    ("period_end", pa.date32()),
    ("currency", pa.string()),
    ("subtotal", pa.decimal128(38, 4)),
    ("credits_applied", pa.decimal128(38, 4)),
    ("total", pa.decimal128(38, 4)),
    ("line_count", pa.int32()),
    ("closed_at", pa.timestamp("us", tz="UTC")),
]
LINE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("invoice_line_id", pa.string()),
    ("invoice_id", pa.string()),
    ("account_id", pa.string()),
    ("period_start", pa.date32()),
    ("period_end", pa.date32()),
    ("line_type", pa.string()),
    ("meter", pa.string()),
    ("endpoint", pa.string()),
    ("price_id", pa.string()),
    ("tier", pa.int32()),
    ("plan_id", pa.string()),
    ("grant_id", pa.string()),
    ("adjusted_period_start", pa.date32()),
    ("description", pa.string()),
    ("quantity", pa.decimal128(38, 9)),
    ("unit_amount", pa.decimal128(38, 12)),
    ("amount", pa.decimal128(38, 4)),
    ("currency", pa.string()),
    ("closed_at", pa.timestamp("us", tz="UTC")),
]
MONEY_COLUMNS = {"subtotal", "credits_applied", "total", "amount"}


class ExportError(Exception):
    """Nothing to export, or a value that cannot be written exactly."""


@dataclass
class ExportResult:
    period: str
    format: str
    directory: Path
    files: dict[str, dict] = field(default_factory=dict)  # file name → rows, bytes, sha256
    totals: dict[str, dict] = field(default_factory=dict)  # currency → invoices, lines, sums
    open_invoices: list[str] = field(default_factory=list)

    def summary(self) -> str:
        out = [f"Finance export {self.period} ({self.format}) in {self.directory}"]
        for name, info in self.files.items():
            rows = f"{info['rows']:,} rows, " if "rows" in info else ""
            out.append(f"  {name:<22} {rows}{info['bytes']:,} bytes, sha256 {info['sha256'][:16]}…")
        for currency, t in self.totals.items():
            out.append(
                f"  {currency.upper()}: {t['invoices']} invoice(s), {t['lines']} line(s), "
                f"total {Decimal(t['total']):,} {currency.upper()}"
            )
        out.append(
            f"  {len(self.open_invoices)} open invoice(s) of {self.period} not exported (not closed yet)"
            if self.open_invoices
            else f"  every invoice of {self.period} is closed"
        )
        return "\n".join(out)


def _text(value: object, name: str, minor: int) -> str:
    """A value as CSV text: exact decimals, ISO dates, UTC timestamps with Z, blank for null."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        if name in MONEY_COLUMNS:
            quantum = Decimal(1).scaleb(-minor)
            rounded = value.quantize(quantum)
            if rounded != value:
                raise ExportError(f"{name} {value} has more digits than its currency allows ({minor})")
            return str(rounded)
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read(db_path: Path, period: str) -> tuple[list[tuple], list[tuple], dict[str, int], list[str]]:
    start, end = month_range(period)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        minor = dict(con.execute("select currency, minor_units from catalog.currencies").fetchall())
        invoices = con.execute(
            f"select {', '.join(n for n, _ in INVOICE_COLUMNS)} from ledger.final_invoices "
            "where period_start >= ? and period_start < ? order by invoice_id",
            [start, end],
        ).fetchall()
        lines = con.execute(
            f"select {', '.join(n for n, _ in LINE_COLUMNS)} from ledger.final_invoice_lines "
            "where period_start >= ? and period_start < ? order by invoice_id, invoice_line_id",
            [start, end],
        ).fetchall()
        open_invoices = [
            i
            for (i,) in con.execute(
                "select invoice_id from marts.fct_invoices where status = 'open' "
                "and period_start >= ? and period_start < ? order by invoice_id",
                [start, end],
            ).fetchall()
        ]
    finally:
        con.close()
    return invoices, lines, minor, open_invoices


def _write_csv(path: Path, columns: list[tuple[str, pa.DataType]], rows: list[tuple], minor: dict) -> None:
    names = [n for n, _ in columns]
    currency_at = names.index("currency")
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            digits = minor.get(row[currency_at], 2)
            writer.writerow([_text(v, n, digits) for v, n in zip(row, names, strict=True)])


def _write_parquet(path: Path, columns: list[tuple[str, pa.DataType]], rows: list[tuple]) -> None:
    schema = pa.schema(columns)
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema
    ).replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_period(db_path: Path, period: str, fmt: str, out_dir: Path) -> ExportResult:
    """Write the month's closed invoices and lines and the control file; return what was written."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    invoices, lines, minor, open_invoices = _read(db_path, period)
    if not invoices:
        raise ExportError(
            f"no closed invoice starts in {period}: close it first (usage-billing close --period {period}); "
            f"{len(open_invoices)} open invoice(s) are not exported"
        )
    directory = out_dir / period / fmt
    directory.mkdir(parents=True, exist_ok=True)
    result = ExportResult(period=period, format=fmt, directory=directory, open_invoices=open_invoices)
    for name, columns, rows in (
        ("invoices", INVOICE_COLUMNS, invoices),
        ("invoice_lines", LINE_COLUMNS, lines),
    ):
        target = directory / f"{name}.{fmt}"
        partial = target.with_name(target.name + ".partial")
        if fmt == "csv":
            _write_csv(partial, columns, rows, minor)
        else:
            _write_parquet(partial, columns, rows)
        os.replace(partial, target)
        result.files[target.name] = {
            "rows": len(rows),
            "bytes": target.stat().st_size,
            "sha256": _sha256(target),
            "columns": [n for n, _ in columns],
        }
    for currency in sorted({row[4] for row in invoices}):
        digits = minor.get(currency, 2)
        mine = [row for row in invoices if row[4] == currency]
        line_amounts = [row[16] for row in lines if row[17] == currency]
        result.totals[currency] = {
            "invoices": len(mine),
            "lines": len(line_amounts),
            "subtotal": _text(sum((r[5] for r in mine), Decimal(0)), "subtotal", digits),
            "credits_applied": _text(sum((r[6] for r in mine), Decimal(0)), "credits_applied", digits),
            "total": _text(sum((r[7] for r in mine), Decimal(0)), "total", digits),
            "lines_amount": _text(sum(line_amounts, Decimal(0)), "amount", digits),
        }
    control = {
        "period": period,
        "format": fmt,
        "scope": "final (closed) invoices whose billing period starts in the month, from the close ledger",
        "files": result.files,
        "totals_per_currency": result.totals,
        "open_invoices_not_exported": len(open_invoices),
    }
    control_path = directory / "control.json"
    partial = control_path.with_name("control.json.partial")
    partial.write_text(json.dumps(control, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, control_path)
    result.files["control.json"] = {"bytes": control_path.stat().st_size, "sha256": _sha256(control_path)}
    return result
