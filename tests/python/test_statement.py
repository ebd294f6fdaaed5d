"""`usage-billing statement`: the HTML statement rendered in headless Chromium (screenshot kept under
test-artifacts/), with every figure it prints checked against hand-computed values or the marts."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import CHROMIUM, CHROMIUM_FLAGS, REPO_ROOT, Warehouse

from orchestration.cli import main

FLAGS = [*CHROMIUM_FLAGS, "--hide-scrollbars"]


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _cell(dom: str, row_attr: str, n: int) -> str:
    """The n-th cell (0-based) of the table row carrying row_attr, as Chromium rendered it."""
    row = re.search(rf"<tr {re.escape(row_attr)}>(.*?)</tr>", dom, re.S)
    assert row, row_attr
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)[n]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by scripts/os_packages.sh")
def test_statement_renders_and_prints_the_marts(readers_warehouse: Warehouse, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(readers_warehouse.db_path))
    html = tmp_path / "statement.html"
    assert main(["statement", "--account", "acct_0001", "--period", "2026-02", "--out", str(html)]) == 0
    text = html.read_text()
    # Self-contained: nothing is fetched (no scripts, stylesheets, images or fonts from anywhere).
    assert not re.search(r"<script|<link|<img|https?://(?!www\.w3\.org/2000/svg)", text)

    dom = _chromium("--dump-dom", html.as_uri(), cwd=tmp_path).stdout
    assert "Usage statement: Acme Analytics" in dom

    # Totals: base 49.00 + tokens (1,000,000 × 0.0000015 + 5.00 = 6.50) + ai calls (250 × 0.005 = 1.25)
    # + January's price adjustment (250 × 0.001 = 0.25) = 57.00; g_0004 pays the 8.00 of usage and
    # adjustment; total 49.00.
    assert re.search(r'id="subtotal">\$57\.00<', dom)
    assert re.search(r'id="credits">\$8\.00<', dom)
    assert re.search(r'id="total">\$49\.00<', dom)
    line_amounts = re.findall(r'<tr data-line="[^"]+">.*?<td class="num">([^<]*)</td></tr>', dom, re.S)
    assert sorted(line_amounts) == sorted(["$49.00", "$0.00", "$6.50", "$1.25", "$0.25", "-$8.00"])
    (lines_in_mart,) = readers_warehouse.query(
        "select count(*) from marts.fct_invoice_lines where account_id = 'acct_0001' "
        "and period_start = date '2026-02-01'"
    )[0:1]
    assert len(line_amounts) == lines_in_mart[0]

    # Usage by day: one bar chart per meter (inline SVG); api_calls: 10 billable calls a day on Feb 1-25,
    # 20 status-500 calls on Feb 4; tokens 6,000,000 on Feb 3 and 5,000,000 on Feb 17.
    assert dom.count("<svg") == 2
    assert dom.count('class="bar billable"') == 25 + 2
    assert dom.count('class="bar not-billable"') == 1
    assert [_cell(dom, 'data-day="2026-02-04"', i) for i in (1, 2, 3)][:3] == ["10", "10", "20"]
    assert "2026-02-17: 5,000,000 billable" in dom
    daily = readers_warehouse.query(
        "select usage_date, sum(event_count) from marts.fct_daily_usage where account_id = 'acct_0001' "
        "and usage_date >= date '2026-02-01' and usage_date < date '2026-03-01' group by 1 order by 1"
    )
    assert len(daily) == 25 and sum(n for _, n in daily) == 250 + 20 + 2

    # Allowances: pro_tokens includes 10,000,000, 11,000,000 used → 110.00 %, none left; pro_calls
    # includes 1,000,000 and the /v1/ai/* calls are not on it (pro_ai_calls): 0 used.
    assert _cell(dom, 'data-price="pro_tokens"', 1) == "11,000,000"
    assert _cell(dom, 'data-price="pro_tokens"', 2) == "10,000,000 (110.00 %)"
    assert _cell(dom, 'data-price="pro_tokens"', 3) == "0"
    assert _cell(dom, 'data-price="pro_calls"', 1) == "0"
    assert _cell(dom, 'data-price="pro_calls"', 3) == "1,000,000"

    # Credit: g_0004 10.00 − 8.00 used = 2.00 left, expires 2026-05-01.
    assert [_cell(dom, 'data-grant="g_0004"', i) for i in range(6)] == [
        "g_0004",
        "$10.00",
        "$8.00",
        "$0.00",
        "$2.00",
        "2026-05-01",
    ]

    # Alerts: pro_tokens allowance 50 % (5,000,000) crossed by the 6,000,000 on Feb 3 12:00, 80 % and
    # 100 % by the 5,000,000 more on Feb 17 12:00; the rest (credit) as usage_alerts has them.
    assert '2026-02-03 12:00</td><td>included allowance (pro_tokens)</td><td class="num">50 %' in dom
    for pct in (80, 100):
        assert f'2026-02-17 12:00</td><td>included allowance (pro_tokens)</td><td class="num">{pct} %' in dom
    alerts = readers_warehouse.query(
        "select crossed_at, threshold_pct from marts.usage_alerts where account_id = 'acct_0001' "
        "and period_start = date '2026-02-01'"
    )
    assert dom.count(' %</td><td class="num">') == len(alerts) >= 3
    for crossed_at, pct in alerts:
        assert f"{crossed_at:%Y-%m-%d %H:%M}</td>" in dom and f">{pct} %<" in dom

    # Rendered, not assumed: a full-page screenshot, kept for people to look at.
    artifacts = REPO_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    png = artifacts / "statement_acct_0001_2026-02.png"
    png.unlink(missing_ok=True)
    _chromium("--window-size=800,1700", f"--screenshot={png}", html.as_uri(), cwd=tmp_path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (800, 1700)
    assert len(data) > 20_000  # a blank page compresses to a few KB
