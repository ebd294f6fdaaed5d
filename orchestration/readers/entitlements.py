"""The entitlements document: marts.account_entitlements as one JSON file a gateway plugin polls.

Written after every build and every payment-status read, atomically: to a local path (write a temporary
file beside it, fsync, rename, fsync the folder) or to an object-storage URL through fsspec (one PUT,
which object stores apply whole). `USAGE_BILLING_ENTITLEMENTS` sets where (default: `entitlements.json`
beside the warehouse). Decimals are strings, exact. `checksum` is the SHA-256 of the document's canonical
JSON (sorted keys, no spaces) without the checksum itself, so a gateway can tell a torn or edited file.

Freshness: `as_of` is the latest event the build saw, `payments_read_at` the last read of Stripe's
payment statuses, `generated_at` when the file was written. Each account carries its plan's
`stale_after_hours` and `when_stale` (allow = fail open, block = fail closed): a gateway that finds
`now - generated_at` above it applies `when_stale` to that account (docs/entitlements.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from orchestration.stripe.ledger import connect

DOCUMENT_VERSION = 1
BLOCK_REASONS = ("hard_limit_reached", "spend_cap_reached", "prepaid_credits_exhausted", "invoice_overdue")
ACCOUNT_COLUMNS = (
    "account_id",
    "access",
    "block_reason",
    "block_reasons",
    "period_start",
    "period_end",
    "plan_id",
    "currency",
    "is_test",
    "spend",
    "spend_cap",
    "credit_balance",
    "overdue_amount",
    "max_days_overdue",
    "hard_limits_reached",
    "when_stale",
    "stale_after_hours",
)
LIMIT_COLUMNS = (
    "account_id",
    "price_id",
    "meter",
    "endpoint",
    "limit_type",
    "limit_value",
    "used_quantity",
    "is_reached",
)


def document_location(db_path: Path) -> str:
    return os.environ.get("USAGE_BILLING_ENTITLEMENTS") or str(db_path.parent / "entitlements.json")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text if text != "-0" else "0"
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_entitlements(db_path: Path) -> tuple[list[dict], dict[str, Any]]:
    """The accounts (with their limits) and the freshness fields, from the marts."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            f"select {', '.join(ACCOUNT_COLUMNS)}, as_of_at, payments_read_at "
            "from marts.account_entitlements order by account_id"
        ).fetchall()
        limits = con.execute(
            f"select {', '.join(LIMIT_COLUMNS)} from marts.account_entitlement_limits "
            "order by account_id, price_id, limit_type"
        ).fetchall()
    by_account: dict[str, list[dict]] = {}
    for row in limits:
        item = {name: _plain(value) for name, value in zip(LIMIT_COLUMNS[1:], row[1:], strict=True)}
        by_account.setdefault(row[0], []).append(item)
    accounts = []
    freshness: dict[str, Any] = {"as_of": None, "payments_read_at": None}
    for row in rows:
        account = {name: _plain(value) for name, value in zip(ACCOUNT_COLUMNS, row, strict=False)}
        account["block_reasons"] = account["block_reasons"].split(",") if account["block_reasons"] else []
        account["limits"] = by_account.get(account["account_id"], [])
        accounts.append(account)
        freshness = {"as_of": _plain(row[-2]), "payments_read_at": _plain(row[-1])}
    return accounts, freshness


def checksum(document: dict) -> str:
    body = {key: value for key, value in document.items() if key != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_document(db_path: Path, generated_at: datetime | None = None) -> dict:
    accounts, freshness = read_entitlements(db_path)
    stamp = (generated_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    document = {
        "version": DOCUMENT_VERSION,
        "generated_at": stamp.isoformat().replace("+00:00", "Z"),
        **freshness,
        "blocked": sum(1 for a in accounts if a["access"] == "block"),
        "accounts": accounts,
    }
    document["checksum"] = checksum(document)
    return document


def blocked_counts(document: dict) -> dict[str, int]:
    """Blocked accounts per (first) reason, every reason listed, zeros included."""
    counts = dict.fromkeys(BLOCK_REASONS, 0)
    for account in document["accounts"]:
        if account["access"] == "block":
            counts[account["block_reason"]] += 1
    return counts


def _write_local(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for left in path.parent.glob(f".{path.name}.*"):  # a write killed before its rename
        left.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def publish(document: dict, location: str) -> str:
    """Write the document to a local path or an fsspec URL; returns where it went."""
    data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    if "://" in location and not location.startswith("file://"):
        import fsspec

        with fsspec.open(location, "wb") as f:
            f.write(data)
        return location
    path = Path(location.removeprefix("file://"))
    _write_local(path, data)
    return str(path)
