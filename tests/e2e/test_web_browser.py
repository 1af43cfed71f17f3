"""The web form in a real browser: Debian's chromium driven by Selenium (chromium-driver).

Types a question, sees a FAQ suggestion appear without moving the form, submits after the 3 s
minimum, and finds the ticket and its acknowledgement in the SMTP sink. axe-core (installed by
.ci/run under tests/tools/) checks the page at 360 px and 1280 px and the page of errors.
Screenshots at both widths are kept under the test's tmp dir (or $VENTANILLA_ARTEFACTS).
"""

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import wait_until, write_config
from tests.e2e.test_web_worker import wait_for_form
from tests.integration.smtp_sink import SmtpSink, unused_port
from tests.webhelpers import write_faq

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / "axe-core" / "axe.min.js"


def _need(condition: bool, why: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(why + " (CI must have it: .ci/run installs it)")
        pytest.skip(why)


def _chromium(tmp_path: Path, *, javascript: bool = True) -> Any:
    _need(Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=360,800",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = _chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def axe_violations(driver: Any) -> list[str]:
    """axe-core's default rules on the page as it stands: one line per violation."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    run = "const done = arguments[0]; axe.run(document).then(done, e => done(String(e)));"
    result = driver.execute_async_script(run)
    assert isinstance(result, dict), result
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in result["violations"]]


def emulate(driver: Any, width: int, height: int = 800) -> None:
    """A viewport of this size (a phone's below 600 px): headless windows are 500 px at least."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def screenshot(driver: Any, width: int, folder: Path) -> Path:
    """The whole page at this width."""
    emulate(driver, width)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    emulate(driver, width, min(int(height), 4000))
    path = folder / f"web-form-{width}.png"
    driver.save_screenshot(str(path))
    emulate(driver, width)
    return path


def _worker(tmp_path: Path, smtp_sink: SmtpSink, worker_factory) -> str:  # type: ignore[no-untyped-def]
    """`ventanilla run` serving the form on a free port; its address."""
    port = unused_port()
    base = f"http://127.0.0.1:{port}/"
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "poll_seconds": 0.5},
            "outbound": {"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
            "web": {"listen": f"127.0.0.1:{port}"},
            "faq": {"path": str(write_faq(tmp_path / "faq"))},
        },
    )
    worker = worker_factory(config, tmp_path)
    wait_for_form(base, worker.proc, worker.output)
    return base


def test_a_citizen_finds_a_suggestion_submits_and_is_acknowledged(  # type: ignore[no-untyped-def]
    tmp_path: Path, smtp_sink: SmtpSink, worker_factory, browser
) -> None:
    _need(AXE.exists(), f"axe-core ({AXE}: npm ci --prefix tests/tools)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = _worker(tmp_path, smtp_sink, worker_factory)
    artefacts = Path(os.environ.get("VENTANILLA_ARTEFACTS", tmp_path / "artefacts"))
    artefacts.mkdir(parents=True, exist_ok=True)
    driver, wait = browser, WebDriverWait(browser, 15)

    emulate(driver, 360)
    driver.get(base + "?lang=es")
    loaded = time.monotonic()
    assert driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [360, 360]
    assert axe_violations(driver) == []
    where_form = "return document.querySelector('form').getBoundingClientRect().top + window.scrollY"
    form_top = driver.execute_script(where_form)
    driver.find_element(By.ID, "subject").send_keys("Mi certificado ha caducado")
    driver.find_element(By.ID, "message").send_keys("¿Cómo puedo renovar el certificado caducado?")
    link = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#faq-results a.faq-suggestion")))
    assert "renuevo" in link.text and link.get_attribute("href").endswith("/faq/renovar")
    moved = driver.execute_script(where_form)
    assert moved == form_top  # suggestions appear in reserved space: no layout shift
    assert axe_violations(driver) == []
    shots = [screenshot(driver, 360, artefacts)]
    emulate(driver, 1280)
    assert axe_violations(driver) == []
    shots.append(screenshot(driver, 1280, artefacts))
    emulate(driver, 360)

    driver.find_element(By.ID, "name").send_keys("Ana Pérez")
    email = driver.find_element(By.ID, "email")
    email.send_keys("ana@example")  # first a mistake: the errors page must pass axe too
    time.sleep(max(0.0, 3.2 - (time.monotonic() - loaded)))  # a person takes more than 3 s (else: a bot)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "email-error")))
    assert driver.switch_to.active_element.get_attribute("id") == "form-status"  # taken to the errors
    assert axe_violations(driver) == []
    email = driver.find_element(By.ID, "email")
    email.clear()
    email.send_keys("ana@example.org")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    reference_text = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".reference"))).text
    reference = re.fullmatch(r"\[#(\d+)\]", reference_text)[1]  # type: ignore[index]
    assert axe_violations(driver) == []

    def acknowledged() -> bool:
        return any(f"[#{reference}]" in str(m.parsed()["Subject"]) for m in smtp_sink.delivered_to("ana@example.org"))

    wait_until(acknowledged, seconds=30, what="the acknowledgement reaches the SMTP sink")
    for shot in shots:
        assert shot.stat().st_size > 5000
    if os.environ.get("VENTANILLA_DOCS_SCREENSHOTS"):  # refresh the README's copies
        for shot in shots:
            shutil.copy(shot, Path(__file__).resolve().parents[2] / "docs" / shot.name)


def test_without_javascript_the_form_works_and_shows_no_suggestion_box(  # type: ignore[no-untyped-def]
    tmp_path: Path, smtp_sink: SmtpSink, worker_factory
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = _worker(tmp_path, smtp_sink, worker_factory)
    driver = _chromium(tmp_path, javascript=False)
    try:
        emulate(driver, 360)
        driver.get(base + "?lang=en")
        loaded = time.monotonic()
        assert not driver.find_element(By.ID, "faq").is_displayed()
        driver.find_element(By.ID, "email").send_keys("noscript@example.org")
        driver.find_element(By.ID, "message").send_keys("My certificate does not appear in my browser.")
        time.sleep(max(0.0, 3.2 - (time.monotonic() - loaded)))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        reference = WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".reference")))
        assert re.fullmatch(r"\[#\d+\]", reference.text)
    finally:
        driver.quit()
