"""The Dagster UI in a real browser: `dagster-webserver` on 127.0.0.1 (a free port) over a small warehouse
built from two bundled sample files, driven by headless Debian Chromium through ChromeDriver. Screenshots go
to test-artifacts/ui/. Every process the test starts is stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from conftest import CHROMIUM, CHROMIUM_FLAGS, REPO_ROOT, Warehouse

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
SAMPLE_FILES = ("events_2026-01_002.ndjson.gz", "events_2026-02_002.ndjson.gz")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromium-driver (scripts/os_packages.sh installs them)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(warehouse: Warehouse) -> Iterator[tuple[str, Warehouse]]:
    from orchestration.code_location.definitions import defs

    for name in SAMPLE_FILES:
        shutil.copy(REPO_ROOT / "sample" / "events" / name, warehouse.events_dir / name)
    # Those two files are clean; three bad lines give the quarantine something to show.
    warehouse.write_events(
        "bad.ndjson",
        [
            "not json",
            {"account_id": "acct_0001", "timestamp": "2026-01-05T00:00:00Z", "units": -1},
            {"account_id": "acct_0001", "timestamp": "2026-01-05T00:00:00Z", "units": -2},
        ],
    )
    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The build job (raw events, dbt build, the checks) in process, recorded in the DAGSTER_HOME the UI reads.
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def("build_job").execute_in_process(instance=instance, raise_on_error=True)
        assert result.success

    port = _free_port()
    log = (warehouse.root / "webserver.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the code server it starts is stopped with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (warehouse.root / "webserver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dagster-webserver did not answer within 180 s"
            time.sleep(1)
        yield url, warehouse
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (*CHROMIUM_FLAGS, "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _page(
    driver, url: str | None, expected: list[str], shot: str, timeout: float = 90, click: str | None = None
) -> str:
    """Open url (None: stay), wait until every expected text is on the page (clicking the first element
    whose text is `click` once it shows: Dagster folds long Markdown behind a link), save a screenshot;
    return the page text."""
    if url:
        driver.get(url)
    clicked = False
    deadline = time.monotonic() + timeout
    while True:
        # Dagster's first-visit newsletter dialog covers the page: dismiss it.
        for button in driver.find_elements("xpath", "//button[normalize-space()='Skip']"):
            if button.is_displayed():
                button.click()
        if click and not clicked:
            found = driver.find_elements("xpath", f"//*[normalize-space(text())='{click}']")
            if found and found[0].is_displayed():
                found[0].click()
                clicked = True
        text = driver.execute_script("return document.body.innerText")
        missing = [e for e in expected if e not in text]
        if not missing:
            break
        if time.monotonic() > deadline:
            driver.save_screenshot(str(ARTIFACTS / f"FAILED_{shot}"))
            raise AssertionError(f"{url}: not shown after {timeout} s: {missing}")
        time.sleep(1)
    time.sleep(1)  # let the graph finish its layout before the screenshot
    driver.save_screenshot(str(ARTIFACTS / shot))
    return text


def test_ui_shows_flow_checks_metadata_automation(webserver, browser) -> None:
    url, warehouse = webserver
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    # 1. The asset graph: the groups in the order of the flow.
    _page(
        browser,
        f"{url}/asset-groups",
        ["Global asset lineage", "raw_events", "staging", "billing", "close", "marts", "stripe", "exports"],
        "1_asset_lineage.png",
    )

    # 2. fct_invoices' materialization: revenue per currency and the ten largest invoices per currency, as
    #    computed from the marts here.
    revenue = warehouse.query("select currency, sum(total) from marts.fct_invoices group by 1 order by 1")
    (largest_usd,) = warehouse.query(
        "select invoice_id from marts.fct_invoices where currency = 'usd' order by total desc, invoice_id limit 1"
    )
    minor = dict(warehouse.query("select currency, minor_units from catalog.currencies"))
    from decimal import Decimal

    amounts = [f"{t.quantize(Decimal(1).scaleb(-minor[c])):,} {c.upper()}" for c, t in revenue]
    text = _page(
        browser,
        f"{url}/assets/fct_invoices?view=events",
        [
            "Materialized in run",
            "revenue_per_currency",
            "top_10_invoices_per_currency",
            *amounts,
        ],
        "2_fct_invoices_materialization.png",
    )
    assert "dagster/row_count" in text
    # The table opens from its link ("[Show Markdown]"): the largest USD invoice is on it.
    _page(
        browser,
        None,
        ["period start", largest_usd[0]],
        "2b_top_invoices_table.png",
        click="[Show Markdown]",
    )

    # 3. fct_invoices' checks: dbt's tests and the invoice-change check beside them.
    _page(
        browser,
        f"{url}/assets/fct_invoices?view=checks",
        [
            "invoice_total_change",
            "lines_sum_to_invoice_fct_invoices_ref_fct_invoice_lines_",
            "unique_fct_invoices_invoice_id",
        ],
        "3_fct_invoices_checks.png",
    )

    # 4. Quarantine reasons with their counts, as in marts.events_quarantined.
    (reason, count) = warehouse.query(
        "select reason, count(*) from marts.events_quarantined group by 1 order by 2 desc, 1 limit 1"
    )[0]
    _page(
        browser,
        f"{url}/assets/events_quarantined?view=events",
        ["quarantine_reasons", reason, str(count)],
        "4_events_quarantined_materialization.png",
        click="[Show Markdown]",
    )

    # 5. The schedules and the sensor, visible (and off until turned on).
    _page(
        browser,
        f"{url}/automation",
        ["hourly_refresh", "monthly_close_and_push", "raw_events_sensor", "Every hour"],
        "5_automation.png",
    )

    # 6. The month partitions of the finance export.
    _page(
        browser,
        f"{url}/assets/finance_export?view=partitions",
        ["finance_export", "2026-01", "2026-02"],
        "6_finance_export_partitions.png",
    )
    for name in ("1_asset_lineage.png", "2_fct_invoices_materialization.png", "5_automation.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
