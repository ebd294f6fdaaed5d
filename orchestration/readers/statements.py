"""`usage-billing statement --account ACCT --period YYYY-MM`: a self-contained HTML usage statement.

One file, no scripts, no fonts or images fetched from anywhere: the daily usage chart is inline SVG
drawn here. Every figure comes from the marts (fct_invoices, fct_invoice_lines, fct_daily_usage,
fct_allowance_utilisation, fct_credit_balances, usage_alerts) and is printed exactly, in the
currency's minor units for money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import duckdb

from orchestration.money import money, number, rate


@dataclass
class Statement:
    account: dict[str, Any]
    invoice: dict[str, Any]
    minor_units: int
    lines: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    allowances: list[dict[str, Any]]
    credits: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    aggregations: dict[str, str]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def month_bounds(period: str) -> tuple[date, date]:
    year, month = (int(x) for x in period.split("-"))
    start = date(year, month, 1)
    return start, date(year + month // 12, month % 12 + 1, 1)


def load_statement(db_path: Path, account_id: str, period: str) -> Statement:
    """The account's invoice whose billing period starts in the month, and everything around it."""
    first, after = month_bounds(period)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        accounts = _rows(con, "select * from catalog.accounts where account_id = ?", [account_id])
        if not accounts:
            raise LookupError(f"unknown account {account_id!r}")
        invoices = _rows(
            con,
            """select invoices.*, currencies.minor_units from marts.fct_invoices as invoices
               inner join catalog.currencies as currencies on invoices.currency = currencies.currency
               where invoices.account_id = ? and invoices.period_start >= ? and invoices.period_start < ?
               order by invoices.period_start""",
            [account_id, first, after],
        )
        if not invoices:
            raise LookupError(f"no invoice for {account_id} with a period starting in {period}")
        invoice = invoices[0]
        args = [invoice["invoice_id"]]
        lines = _rows(
            con,
            """select * from marts.fct_invoice_lines where invoice_id = ?
               order by case line_type when 'base_fee' then 0 when 'usage' then 1 when 'adjustment' then 2
                        when 'cap' then 3 when 'minimum' then 4 else 5 end, price_id, tier, grant_id""",
            args,
        )
        daily = _rows(
            con,
            """select usage_date, meter, is_billable, sum(units) as units, sum(event_count) as event_count
               from marts.fct_daily_usage
               where account_id = ? and usage_date >= ? and usage_date < ?
               group by usage_date, meter, is_billable order by meter, usage_date, is_billable""",
            [account_id, invoice["period_start"], invoice["period_end"]],
        )
        allowances = _rows(
            con, "select * from marts.fct_allowance_utilisation where invoice_id = ? order by price_id", args
        )
        credits = _rows(
            con, "select * from marts.fct_credit_balances where invoice_id = ? order by grant_id", args
        )
        aggregations = dict(con.execute("select meter, aggregation from catalog.meters").fetchall())
        alerts = _rows(
            con,
            """select * from marts.usage_alerts where account_id = ? and period_start = ?
               order by crossed_at, alert_type, threshold_pct""",
            [account_id, invoice["period_start"]],
        )
    finally:
        con.close()
    return Statement(
        accounts[0], invoice, invoice["minor_units"], lines, daily, allowances, credits, alerts, aggregations
    )


def _chart(meter: str, rows: list[dict[str, Any]], start: date, end: date, measure: str = "units") -> str:
    """Bars of units per day: billable solid, not billable light on top. Heights are for the eye only;
    each bar carries its exact figures in a <title> and the table below the chart prints them."""
    days = (end - start).days
    billable = {r["usage_date"]: r[measure] for r in rows if r["is_billable"]}
    other = {r["usage_date"]: r[measure] for r in rows if not r["is_billable"]}
    top = max([billable.get(d, 0) + other.get(d, 0) for d in set(billable) | set(other)] or [1]) or 1
    width, height, left, bottom = 720, 110, 76, 24
    bar = (width - left) / days
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(meter)} per day" viewBox="0 0 {width} {height + bottom}" '
        f'width="{width}" height="{height + bottom}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{height}" x2="{width}" y2="{height}" stroke="#888"/>',
        f'<text x="{left - 4}" y="12" text-anchor="end" font-size="10">{escape(number(top))}</text>',
        f'<text x="{left - 4}" y="{height}" text-anchor="end" font-size="10">0</text>',
    ]
    for i in range(days):
        day = start + timedelta(days=i)
        x = left + i * bar
        b, o = billable.get(day, Decimal(0)), other.get(day, Decimal(0))
        hb = float(b / top) * (height - 12)  # pixels only; the figures stay exact in the title and table
        ho = float(o / top) * (height - 12)
        what = "units" if measure == "units" else "events"
        title = f"{day}: {number(b)} billable {what}" + (f", {number(o)} not billable" if o else "")
        if b:
            parts.append(
                f'<rect class="bar billable" x="{x + 1:.1f}" y="{height - hb:.1f}" width="{bar - 2:.1f}" '
                f'height="{hb:.1f}" fill="#2b6cb0"><title>{escape(title)}</title></rect>'
            )
        if o:
            parts.append(
                f'<rect class="bar not-billable" x="{x + 1:.1f}" y="{height - hb - ho:.1f}" width="{bar - 2:.1f}" '
                f'height="{ho:.1f}" fill="#e2a03f"><title>{escape(title)}</title></rect>'
            )
        if i % 7 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height + 14}" text-anchor="middle" font-size="10">'
                f"{day:%b %d}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(st: Statement) -> str:
    inv, cur, mu = st.invoice, st.invoice["currency"], st.minor_units
    e = escape
    name = st.account["account_name"] or st.account["account_id"]
    period = f"{inv['period_start']:%d %b %Y} – {inv['period_end'] - timedelta(days=1):%d %b %Y}"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Usage statement — {e(name)} — {e(period)}</title>",
        "<style>",
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:760px;color:#1a202c}",
        "h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:1.5rem;border-bottom:1px solid #cbd5e0}",
        "h3{font-size:.95rem;margin:.8rem 0 .2rem}details{font-size:.85rem;margin-bottom:.5rem}",
        "table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{padding:.25rem .5rem;text-align:left}",
        "th{background:#edf2f7}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}",
        "tr.total td{font-weight:bold;border-top:2px solid #1a202c}.muted{color:#718096;font-size:.85rem}",
        ".legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}",
        "</style></head><body>",
        f"<h1>Usage statement: {e(name)}</h1>",
        f'<p class="muted">Account {e(st.account["account_id"])} · billing period {e(period)} · invoice '
        f"{e(inv['invoice_id'])} ({e(inv['status'])}) · amounts in {e(cur.upper())}</p>",
        '<table class="summary"><tr><th class="num">Charges</th><th class="num">Prepaid credit applied</th>'
        '<th class="num">Total due</th></tr>',
        f'<tr><td class="num" id="subtotal">{e(money(inv["subtotal"], cur, mu))}</td>'
        f'<td class="num" id="credits">{e(money(inv["credits_applied"], cur, mu))}</td>'
        f'<td class="num" id="total">{e(money(inv["total"], cur, mu))}</td></tr></table>',
    ]
    out.append("<h2>Usage against allowances and limits</h2>")
    if st.allowances:
        out.append(
            '<table class="allowances"><tr><th>Price</th><th class="num">Used</th><th class="num">Included</th>'
            '<th class="num">Left</th><th class="num">Hard limit</th><th class="num">Not billed</th></tr>'
        )
        for a in st.allowances:
            pct = f" ({a['allowance_used_pct']} %)" if a["allowance_used_pct"] is not None else ""
            out.append(
                f'<tr data-price="{e(a["price_id"])}"><td>{e(a["price_id"])} ({e(a["meter"])})</td>'
                f'<td class="num">{number(a["used_quantity"])}</td>'
                f'<td class="num">{number(a["included_quantity"]) if a["included_quantity"] is not None else "—"}{pct}</td>'
                f'<td class="num">{number(a["remaining_allowance"]) if a["remaining_allowance"] is not None else "—"}</td>'
                f'<td class="num">{number(a["hard_limit"]) if a["hard_limit"] is not None else "—"}</td>'
                f'<td class="num">{number(a["excess_quantity"])}</td></tr>'
            )
        out.append("</table>")
    else:
        out.append("<p>Your plan has no included allowance or hard limit.</p>")
    out.append("<h2>Invoice lines</h2>")
    out.append(
        '<table class="lines"><tr><th>Line</th><th class="num">Quantity</th><th class="num">Unit price</th>'
        '<th class="num">Amount</th></tr>'
    )
    for line in st.lines:
        unit = rate(line["unit_amount"], cur, mu) if line["unit_amount"] is not None else ""
        out.append(
            f'<tr data-line="{e(line["invoice_line_id"])}"><td>{e(line["description"])}</td>'
            f'<td class="num">{number(line["quantity"])}</td><td class="num">{e(unit)}</td>'
            f'<td class="num">{e(money(line["amount"], cur, mu))}</td></tr>'
        )
    out.append(
        f'<tr class="total"><td colspan="3">Total</td><td class="num">{e(money(inv["total"], cur, mu))}</td></tr>'
    )
    out.append("</table>")
    out.append("<h2>Prepaid credit</h2>")
    if st.credits:
        out.append(
            '<table class="credits"><tr><th>Grant</th><th class="num">Before</th><th class="num">Used</th>'
            '<th class="num">Expired</th><th class="num">Left</th><th>Expires</th></tr>'
        )
        for c in st.credits:
            out.append(
                f'<tr data-grant="{e(c["grant_id"])}"><td>{e(c["grant_id"])}</td>'
                f'<td class="num">{e(money(c["opening_balance"], cur, mu))}</td>'
                f'<td class="num">{e(money(c["used"], cur, mu))}</td>'
                f'<td class="num">{e(money(c["expired"], cur, mu))}</td>'
                f'<td class="num">{e(money(c["closing_balance"], cur, mu))}</td>'
                f"<td>{c['expires_at'] or 'never'}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No prepaid credit.</p>")
    out.append("<h2>Alerts crossed</h2>")
    if st.alerts:
        out.append(
            '<table class="alerts"><tr><th>When (UTC)</th><th>Alert</th><th class="num">Threshold</th>'
            '<th class="num">Limit</th></tr>'
        )
        for a in st.alerts:
            what = a["alert_type"].replace("_", " ") + (f" ({a['price_id']})" if a["price_id"] else "")
            what += f" ({a['grant_id']})" if a["grant_id"] else ""
            limit = (
                money(a["limit_value"], cur, mu)
                if a["alert_type"] in ("spend_cap", "credit_balance")
                else number(a["limit_value"])
            )
            out.append(
                f"<tr><td>{a['crossed_at']:%Y-%m-%d %H:%M}</td><td>{e(what)}</td>"
                f'<td class="num">{a["threshold_pct"]} %</td><td class="num">{e(limit)}</td></tr>'
            )
        out.append("</table>")
    else:
        out.append("<p>No alert thresholds were crossed.</p>")
    usage = [
        "<h2>Usage by day</h2>",
        '<p class="legend muted"><span style="background:#2b6cb0"></span>billable'
        '<span style="background:#e2a03f"></span>not billable (e.g. server errors)</p>',
    ]
    meters = sorted({r["meter"] for r in st.daily})
    if not meters:
        usage.append("<p>No usage in this period.</p>")
    for meter in meters:
        rows = [r for r in st.daily if r["meter"] == meter]
        # Sum meters chart units; count, max and unique_count meters chart events (their daily units
        # do not add up to what is billed).
        measure = "units" if st.aggregations.get(meter, "sum") == "sum" else "event_count"
        label = "units" if measure == "units" else "events"
        usage.append(f'<h3>{e(meter)} <span class="muted">({label} per day)</span></h3>')
        usage.append(_chart(meter, rows, inv["period_start"], inv["period_end"], measure))
        usage.append(
            "<details><summary>Figures per day</summary>"
            f'<table class="daily" data-meter="{e(meter)}"><tr><th>Day</th><th class="num">Billable units</th>'
            '<th class="num">Billable events</th><th class="num">Not billable events</th></tr>'
        )
        for day in sorted({r["usage_date"] for r in rows}):
            b = [r for r in rows if r["usage_date"] == day and r["is_billable"]]
            o = [r for r in rows if r["usage_date"] == day and not r["is_billable"]]
            usage.append(
                f'<tr data-day="{day}"><td>{day}</td><td class="num">{number(b[0]["units"]) if b else "0"}</td>'
                f'<td class="num">{number(b[0]["event_count"]) if b else "0"}</td>'
                f'<td class="num">{number(o[0]["event_count"]) if o else "0"}</td></tr>'
            )
        usage.append("</table></details>")
    out += usage
    out.append(
        '<p class="muted">Money is rounded half away from zero to the currency\'s minor units on each line; '
        "units are exact. Times are UTC.</p></body></html>"
    )
    return "\n".join(out) + "\n"


def write_statement(db_path: Path, account_id: str, period: str, out: Path | None = None) -> Path:
    st = load_statement(db_path, account_id, period)
    path = out or Path(f"statement_{account_id}_{period}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(st), encoding="utf-8")
    return path
