"""`usage-billing explain INVOICE_LINE_ID`: how a line's amount was computed, and the events behind it.

Everything is recomputed here in Decimal from the catalog and the kept events, independently of the
SQL that priced the line, and compared with the line: an explanation that does not reconcile says so
(and the command fails). The same explanation is available as text, Markdown (for Dagster metadata)
and JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from orchestration.money import ceil_div, floor_div, money, number, rate, round_money

SAMPLE_SIZE = 10


@dataclass
class Explanation:
    invoice_line_id: str
    invoice_id: str
    account_id: str
    period: str
    line_type: str
    description: str
    currency: str
    minor_units: int
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal
    steps: list[str] = field(default_factory=list)
    computed_amount: Decimal | None = None
    checks: list[tuple[str, bool]] = field(default_factory=list)
    events: dict[str, Any] | None = None

    @property
    def reconciles(self) -> bool:
        return all(ok for _, ok in self.checks)


def _line_id(*parts: object) -> str:
    """The id the SQL macro invoice_line_id gives (macros/ids.sql): md5 of the parts joined by '|'."""
    text = "|".join("" if p is None else str(p) for p in parts)
    return "il_" + hashlib.md5(text.encode()).hexdigest()[:24]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> dict[str, Any] | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def _all(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _segment(con: duckdb.DuckDBPyConnection, line: dict[str, Any]) -> dict[str, Any] | None:
    """The plan segment a base-fee or usage line prices: the plan assignment whose valid_from gives
    the line's id (a plan can be assigned twice in one period)."""
    candidates = _all(
        con,
        """select valid_from, valid_to from catalog.account_plans
           where account_id = ? and plan_id = ? and valid_from < ? and (valid_to is null or valid_to > ?)
           order by valid_from""",
        [line["account_id"], line["plan_id"], line["period_end"], line["period_start"]],
    )
    for seg in candidates:
        if (
            _line_id(line["invoice_id"], line["line_type"], seg["valid_from"], line["price_id"], line["tier"])
            == line["invoice_line_id"]
        ):
            start = max(seg["valid_from"], line["period_start"])
            end = min(seg["valid_to"] or line["period_end"], line["period_end"])
            return {"plan_valid_from": seg["valid_from"], "start": start, "end": end}
    return None


def explain_line(db_path: Path, invoice_line_id: str, sample_size: int = SAMPLE_SIZE) -> Explanation:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        line = _one(
            con,
            """select lines.*, currencies.minor_units
               from marts.fct_invoice_lines as lines
               inner join catalog.currencies as currencies on lines.currency = currencies.currency
               where lines.invoice_line_id = ?""",
            [invoice_line_id],
        )
        if line is None:
            raise LookupError(f"no invoice line {invoice_line_id!r} in marts.fct_invoice_lines")
        ex = Explanation(
            invoice_line_id=line["invoice_line_id"],
            invoice_id=line["invoice_id"],
            account_id=line["account_id"],
            period=f"{line['period_start']} – {line['period_end']}",
            line_type=line["line_type"],
            description=line["description"],
            currency=line["currency"],
            minor_units=line["minor_units"],
            quantity=line["quantity"],
            unit_amount=line["unit_amount"],
            amount=line["amount"],
        )
        explain = {
            "base_fee": _explain_base_fee,
            "usage": _explain_usage,
            "cap": _explain_cap,
            "minimum": _explain_minimum,
            "credit": _explain_credit,
            "adjustment": _explain_adjustment,
        }[line["line_type"]]
        explain(con, line, ex, sample_size)
        if ex.computed_amount is not None:
            ex.checks.append(
                (
                    f"recomputed amount {money(ex.computed_amount, ex.currency, ex.minor_units)} "
                    f"= line amount {money(ex.amount, ex.currency, ex.minor_units)}",
                    ex.computed_amount == ex.amount,
                )
            )
        return ex
    finally:
        con.close()


def _explain_base_fee(con, line, ex: Explanation, _sample: int) -> None:
    plan = _one(con, "select plan_name, base_fee from catalog.plans where plan_id = ?", [line["plan_id"]])
    seg = _segment(con, line)
    if plan is None or seg is None:
        ex.checks.append(("plan segment found in the catalog", False))
        return
    cur, mu = ex.currency, ex.minor_units
    fee = Decimal(plan["base_fee"])
    period_days = (line["period_end"] - line["period_start"]).days
    covered = (seg["end"] - seg["start"]).days
    exact = fee * covered / period_days
    ex.steps += [
        f"plan {line['plan_id']} ({plan['plan_name']}): base fee {rate(fee, cur, mu)} per period",
        f"plan in force {seg['start']} – {seg['end']}: {covered} of {period_days} days (P9)",
        f"{rate(fee, cur, mu)} × {covered}/{period_days} = {number(exact)} → rounded half away from zero "
        f"to {mu} decimals = {money(round_money(exact, mu), cur, mu)} (P12)",
    ]
    ex.computed_amount = round_money(exact, mu)
    ex.checks.append((f"unit_amount is the full-period fee {rate(fee, cur, mu)}", line["unit_amount"] == fee))


def _usage_quantity(con, line, seg) -> tuple[Decimal, dict[str, Any]]:
    """P3 over the billable events the price covers in the segment, from the daily rollup."""
    meter = _one(con, "select aggregation, unit_label from catalog.meters where meter = ?", [line["meter"]])
    q = _one(
        con,
        """select coalesce(sum(units_sum), 0) as units_sum, coalesce(sum(event_count), 0) as event_count,
                  max(units_max) as units_max, count(distinct unique_value) as unique_values
           from intermediate.int_usage_prices_matched
           where account_id = ? and price_id = ? and period_start = ? and plan_valid_from = ?""",
        [line["account_id"], line["price_id"], line["period_start"], seg["plan_valid_from"]],
    )
    aggregation = meter["aggregation"]
    quantity = {
        "sum": q["units_sum"],
        "count": Decimal(q["event_count"]),
        "max": q["units_max"] or Decimal(0),
        "unique_count": Decimal(q["unique_values"]),
    }[aggregation]
    return Decimal(quantity), {**q, "aggregation": aggregation, "unit_label": meter["unit_label"]}


def _events(con, line, seg, sample_size: int) -> dict[str, Any]:
    """The kept events behind a usage line: those of the segment's days whose price match (P4) is the
    line's price. Counted and summed in full; only a sample is listed."""
    matched = """
        with matched_days as (
            select distinct account_id, meter, endpoint, status_code, usage_date
            from intermediate.int_usage_prices_matched
            where account_id = ? and price_id = ? and period_start = ? and plan_valid_from = ?
        )
        select events.event_id, events.event_at, events.units, events.endpoint, events.status_code,
               events.source_file, events.line_number
        from intermediate.int_usage_events_deduplicated as events
        inner join matched_days
            on events.account_id = matched_days.account_id
            and events.meter = matched_days.meter
            and events.endpoint is not distinct from matched_days.endpoint
            and events.status_code = matched_days.status_code
            and cast(events.event_at as date) = matched_days.usage_date
    """
    params = [line["account_id"], line["price_id"], line["period_start"], seg["plan_valid_from"]]
    totals = _one(
        con,
        f"select count(*) as events, coalesce(sum(units), 0) as units from ({matched}) as e",
        params,
    )
    per_file = _all(
        con,
        f"""select source_file, count(*) as events, sum(units) as units,
                   min(line_number) as first_line, max(line_number) as last_line
            from ({matched}) as e group by source_file order by source_file""",
        params,
    )
    sample = _all(
        con,
        f"select * from ({matched}) as e order by event_at, source_file, line_number limit {int(sample_size)}",
        params,
    )
    return {"count": totals["events"], "units": totals["units"], "per_file": per_file, "sample": sample}


def _explain_usage(con, line, ex: Explanation, sample_size: int) -> None:
    cur, mu = ex.currency, ex.minor_units
    price = _one(con, "select * from catalog.prices where price_id = ?", [line["price_id"]])
    seg = _segment(con, line)
    if price is None or seg is None:
        ex.checks.append(("price and plan segment found in the catalog", False))
        return
    used, q = _usage_quantity(con, line, seg)
    label = q["unit_label"]
    ex.steps.append(
        f"price {price['price_id']} (plan {price['plan_id']}, meter {price['meter']}"
        + (f", endpoint {price['endpoint']}" if price["endpoint"] else "")
        + f"), plan in force {seg['start']} – {seg['end']}"
    )
    ex.steps.append(
        f"P3 {q['aggregation']} over {number(q['event_count'])} billable events = {number(used)} {label}(s)"
    )
    billed = used
    if price["hard_limit"] is not None and used > price["hard_limit"]:
        billed = Decimal(price["hard_limit"])
        ex.steps.append(
            f"P8 hard limit {number(billed)}: {number(billed)} billed, {number(used - billed)} not billed"
        )
    if line["is_final"]:
        ex.steps.append("the line is final (P13): it keeps the unit price it was closed with")
    if price["billing_scheme"] == "per_unit":
        unit = Decimal(line["unit_amount"])
        if unit != price["unit_amount"]:
            ex.steps.append(
                f"catalog price now {rate(price['unit_amount'], cur, mu)}; billed at {rate(unit, cur, mu)}"
            )
        size = Decimal(price["package_size"] or 1)
        if size > 1:
            rounding = price["package_rounding"] or "up"
            packages = ceil_div(billed, size) if rounding == "up" else floor_div(billed, size)
            exact = packages * unit
            ex.steps.append(
                f"P7 packages of {number(size)}, rounded {rounding}: {number(billed)} / {number(size)} "
                f"→ {number(packages)} package(s) × {rate(unit, cur, mu)} = {number(exact)}"
            )
        else:
            exact = billed * unit
            ex.steps.append(f"per unit: {number(billed)} × {rate(unit, cur, mu)} = {number(exact)}")
        ex.checks.append(
            (f"line quantity {number(line['quantity'])} = billed quantity", line["quantity"] == billed)
        )
    else:
        tiers = _all(
            con,
            "select tier, up_to, unit_amount, flat_amount from catalog.price_tiers where price_id = ? "
            "order by tier",
            [price["price_id"]],
        )
        mode = price["tiers_mode"] or "graduated"
        lower = Decimal(0)
        exact = None
        for t in tiers:
            up_to = t["up_to"]
            unit, flat = Decimal(t["unit_amount"]), Decimal(t["flat_amount"] or 0)
            if t["tier"] == line["tier"] and line["unit_amount"] != unit:
                ex.steps.append(
                    f"catalog tier {t['tier']} price now {rate(unit, cur, mu)}; billed at "
                    f"{rate(line['unit_amount'], cur, mu)}"
                )
                unit = Decimal(line["unit_amount"])
            bounds = f"tier {t['tier']}: above {number(lower)}" + (
                f" up to {number(up_to)}" if up_to is not None else ""
            )
            price_text = f"{rate(unit, cur, mu)}/unit" + (f" + {rate(flat, cur, mu)} flat" if flat else "")
            mark = "   "
            if t["tier"] == line["tier"]:
                mark = "→  "
                if mode == "volume":
                    in_tier = billed
                    exact = in_tier * unit + flat
                    how = f"P6 volume: all {number(in_tier)} × {rate(unit, cur, mu)}"
                else:
                    in_tier = (min(billed, up_to) if up_to is not None else billed) - lower
                    exact = in_tier * unit + flat
                    how = f"P5 graduated: {number(in_tier)} units in this tier × {rate(unit, cur, mu)}"
                how += (f" + {rate(flat, cur, mu)}" if flat else "") + f" = {number(exact)}"
                ex.checks.append(
                    (
                        f"line quantity {number(line['quantity'])} = units priced in tier {t['tier']}",
                        line["quantity"] == in_tier,
                    )
                )
                ex.checks.append(
                    (f"line unit_amount = tier {t['tier']} unit price", line["unit_amount"] == unit)
                )
            ex.steps.append(f"{mark}{bounds}: {price_text}")
            if t["tier"] == line["tier"]:
                ex.steps.append(f"   {how}")
            lower = Decimal(up_to) if up_to is not None else lower
        if exact is None:
            ex.checks.append((f"tier {line['tier']} exists for {price['price_id']}", False))
            return
    ex.computed_amount = round_money(exact, mu)
    ex.steps.append(
        f"rounded half away from zero to {mu} decimals = {money(ex.computed_amount, cur, mu)} (P12)"
    )
    ex.events = _events(con, line, seg, sample_size)
    ex.checks.append(
        (
            f"{number(ex.events['count'])} events behind the line = {number(q['event_count'])} counted by P3",
            ex.events["count"] == q["event_count"],
        )
    )
    if q["aggregation"] == "sum":
        ex.checks.append(
            (
                f"their units {number(ex.events['units'])} = quantity {number(used)}",
                ex.events["units"] == used,
            )
        )


def _usage_lines(con, line) -> list[dict[str, Any]]:
    return _all(
        con,
        """select line_type, price_id, tier, amount from marts.fct_invoice_lines
           where invoice_id = ? and line_type = 'usage' order by price_id, tier""",
        [line["invoice_id"]],
    )


def _line_label(*words, tier=None) -> str:
    """`usage p_calls tier 2`: the words that are set, then the tier when there is one."""
    return " ".join(str(w) for w in words if w) + (f" tier {tier}" if tier else "")


def _itemise(ex: Explanation, lines: list, line_type: str | None = None) -> Decimal:
    """A step for each line a cap or minimum is measured against (its label and amount); their total."""
    for x in lines:
        label = _line_label(line_type or x["line_type"], x["price_id"], tier=x["tier"])
        ex.steps.append(f"{label}: {money(x['amount'], ex.currency, ex.minor_units)}")
    return sum((x["amount"] for x in lines), Decimal(0))


def _explain_cap(con, line, ex: Explanation, _sample: int) -> None:
    cur, mu = ex.currency, ex.minor_units
    plan = _one(con, "select maximum_amount from catalog.plans where plan_id = ?", [line["plan_id"]])
    total = _itemise(ex, _usage_lines(con, line), line_type="usage")
    cap = Decimal(plan["maximum_amount"])
    ex.steps += [
        f"usage lines (all plan segments, adjustments excluded) = {money(total, cur, mu)}",
        f"P10 spend cap of plan {line['plan_id']} (in force at the period's end) = {money(cap, cur, mu)}",
        f"cap line = −({money(total, cur, mu)} − {money(cap, cur, mu)}) = {money(cap - total, cur, mu)}",
    ]
    ex.computed_amount = round_money(cap - total, mu)


def _explain_minimum(con, line, ex: Explanation, _sample: int) -> None:
    cur, mu = ex.currency, ex.minor_units
    plan = _one(con, "select minimum_amount from catalog.plans where plan_id = ?", [line["plan_id"]])
    lines = _all(
        con,
        """select line_type, price_id, tier, amount from marts.fct_invoice_lines
           where invoice_id = ? and line_type in ('base_fee', 'usage', 'cap') order by line_type, price_id, tier""",
        [line["invoice_id"]],
    )
    total = _itemise(ex, lines)
    minimum = Decimal(plan["minimum_amount"])
    ex.steps += [
        f"base fees + usage after the cap = {money(total, cur, mu)}",
        f"P10 minimum of plan {line['plan_id']} = {money(minimum, cur, mu)}",
        f"minimum line = {money(minimum, cur, mu)} − {money(total, cur, mu)} = {money(minimum - total, cur, mu)}",
    ]
    ex.computed_amount = round_money(minimum - total, mu)


def _explain_credit(con, line, ex: Explanation, _sample: int) -> None:
    cur, mu = ex.currency, ex.minor_units
    bal = _one(
        con,
        """select grant_amount, effective_at, expires_at, opening_balance, used, expired, closing_balance
           from marts.fct_credit_balances where grant_id = ? and invoice_id = ?""",
        [line["grant_id"], line["invoice_id"]],
    )
    chargeable = _one(
        con,
        """select coalesce(sum(amount), 0) as amount from marts.fct_invoice_lines
           where invoice_id = ? and line_type in ('usage', 'cap', 'adjustment')""",
        [line["invoice_id"]],
    )["amount"]
    if bal is None:
        ex.checks.append(("grant balance found in fct_credit_balances", False))
        return
    expiry = f"expires {bal['expires_at']}" if bal["expires_at"] else "never expires"
    ex.steps += [
        f"grant {line['grant_id']}: {rate(bal['grant_amount'], cur, mu)} from {bal['effective_at']}, {expiry}",
        f"P11 credit pays usage, cap and adjustment lines: {money(chargeable, cur, mu)} on this invoice",
        f"balance before this invoice {rate(bal['opening_balance'], cur, mu)}; drawn {rate(bal['used'], cur, mu)}; "
        f"expired {rate(bal['expired'], cur, mu)}; left {rate(bal['closing_balance'], cur, mu)}",
        f"credit line = −{rate(bal['used'], cur, mu)} rounded = {money(round_money(-bal['used'], mu), cur, mu)} (P12)",
    ]
    ex.computed_amount = round_money(-Decimal(bal["used"]), mu)
    ex.checks.append(
        (
            "opening − drawn − expired = left",
            bal["opening_balance"] - bal["used"] - bal["expired"] == bal["closing_balance"],
        )
    )
    ex.checks.append(("line unit_amount = −drawn", line["unit_amount"] == -bal["used"]))


def _explain_adjustment(con, line, ex: Explanation, _sample: int) -> None:
    """P14: what the closed period's (price, tier) costs when priced again with every event now known,
    minus what its final invoice billed, minus adjustments of it already made final."""
    cur, mu = ex.currency, ex.minor_units
    closed = [line["account_id"], line["adjusted_period_start"], line["price_id"], line["tier"]]
    match = """account_id = ? and period_start = ? and price_id = ? and tier is not distinct from ?"""
    corrected = _one(
        con,
        f"""select coalesce(sum(amount), 0) as amount, coalesce(sum(quantity), 0) as quantity
            from intermediate.int_invoice_lines_priced where {match}""",
        closed,
    )
    billed = _one(
        con,
        f"""select coalesce(sum(amount), 0) as amount, coalesce(sum(quantity), 0) as quantity
            from marts.fct_invoice_lines where line_type = 'usage' and is_final and {match}""",
        closed,
    )
    prior = _one(
        con,
        """select coalesce(sum(amount), 0) as amount, coalesce(sum(quantity), 0) as quantity
           from marts.fct_invoice_lines
           where line_type = 'adjustment' and is_final and account_id = ? and adjusted_period_start = ?
             and price_id = ? and tier is not distinct from ?""",
        closed,
    )
    what = _line_label(line["price_id"], tier=line["tier"])
    ex.steps += [
        f"P14: closed period starting {line['adjusted_period_start']}, {what}",
        f"priced again now: {number(corrected['quantity'])} units, {money(corrected['amount'], cur, mu)}",
        f"billed when it closed: {number(billed['quantity'])} units, {money(billed['amount'], cur, mu)}",
        f"adjusted before: {number(prior['quantity'])} units, {money(prior['amount'], cur, mu)}",
        f"adjustment = {money(corrected['amount'], cur, mu)} − {money(billed['amount'], cur, mu)} − "
        f"{money(prior['amount'], cur, mu)} = "
        f"{money(corrected['amount'] - billed['amount'] - prior['amount'], cur, mu)}",
    ]
    ex.computed_amount = round_money(corrected["amount"] - billed["amount"] - prior["amount"], mu)
    quantity = corrected["quantity"] - billed["quantity"] - prior["quantity"]
    ex.checks.append(
        (f"line quantity {number(line['quantity'])} = {number(quantity)}", line["quantity"] == quantity)
    )


def _dumps(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_json(ex: Explanation) -> str:
    data = asdict(ex)
    data["checks"] = [{"check": c, "ok": ok} for c, ok in ex.checks]
    data["reconciles"] = ex.reconciles
    return json.dumps(data, default=_dumps, indent=2, ensure_ascii=False)


def _event_lines(ex: Explanation) -> list[str]:
    ev = ex.events
    if ev is None:
        return []
    out = [f"{number(ev['count'])} event(s), {number(ev['units'])} unit(s) in all"]
    for f in ev["per_file"]:
        out.append(
            f"  {f['source_file']}: {number(f['events'])} event(s), {number(f['units'])} unit(s), "
            f"lines {f['first_line']}–{f['last_line']}"
        )
    shown = len(ev["sample"])
    out.append(f"first {shown} of {number(ev['count'])} by time:" if shown < ev["count"] else "all of them:")
    for e in ev["sample"]:
        out.append(
            f"  {e['event_id']}  {e['event_at']:%Y-%m-%d %H:%M:%S}  units {number(e['units'])}  "
            f"{e['endpoint'] or '-'} {e['status_code']}  {e['source_file']}:{e['line_number']}"
        )
    return out


def render_text(ex: Explanation) -> str:
    cur, mu = ex.currency, ex.minor_units
    out = [
        f"{ex.invoice_line_id}  {ex.line_type}  {money(ex.amount, cur, mu)}",
        f"  invoice {ex.invoice_id}, account {ex.account_id}, period {ex.period}",
        f"  {ex.description}",
        "",
        "How the amount was computed",
        *[f"  {s}" for s in ex.steps],
        "",
        "Checks",
        *[f"  [{'ok' if ok else 'FAILED'}] {c}" for c, ok in ex.checks],
    ]
    if ex.events is not None:
        out += ["", "Events behind the line", *[f"  {s}" for s in _event_lines(ex)]]
    return "\n".join(out)


def render_markdown(ex: Explanation) -> str:
    """The same explanation for Dagster metadata (MetadataValue.md) or any Markdown viewer."""
    cur, mu = ex.currency, ex.minor_units
    out = [
        f"### `{ex.invoice_line_id}` — {ex.line_type}, {money(ex.amount, cur, mu)}",
        f"Invoice `{ex.invoice_id}`, account `{ex.account_id}`, period {ex.period}: {ex.description}",
        "",
        "**How the amount was computed**",
        "",
        *[f"- {s.strip()}" for s in ex.steps],
        "",
        "**Checks**",
        "",
        *[f"- {'✅' if ok else '❌'} {c}" for c, ok in ex.checks],
    ]
    if ex.events is not None:
        out += ["", "**Events behind the line**", "", "```", *_event_lines(ex), "```"]
    return "\n".join(out)


def explain_metadata(db_path: Path, invoice_line_id: str) -> dict[str, Any]:
    """Metadata an asset or op can attach to a materialization or an asset check."""
    import dagster as dg

    ex = explain_line(db_path, invoice_line_id)
    return {
        "explanation": dg.MetadataValue.md(render_markdown(ex)),
        "explanation_json": dg.MetadataValue.json(json.loads(to_json(ex))),
        "reconciles": dg.MetadataValue.bool(ex.reconciles),
    }
