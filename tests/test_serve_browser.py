"""``tempo-kit serve`` in a real headless browser (Debian's chromium through chromedriver) on the bundled models.

The page loads and fills its menus from ``/api/options``; a click on Generate completes and the audio element gets a
WAV source that the browser decodes to the requested length; a click on Control (a melody, DITTO-2 on the bundled
CTM) does the same and shows its plot. ``scripts/setup.sh dev`` installs chromium and chromium-driver where apt-get
can run as root; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import shutil
import threading

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh dev installs them as root)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser):
    from tempo_kit.commands.serve import make_server

    srv = make_server("127.0.0.1", 0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    browser.get(f"http://127.0.0.1:{srv.server_address[1]}/")
    yield browser
    srv.shutdown()
    srv.server_close()


def _wait(driver, condition: str, timeout: float = 240):
    """Poll a JavaScript expression until it is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: d.execute_script(f"return {condition};"), message=f"timed out waiting for: {condition}")


def _finished(driver, status_id: str) -> str:
    """Wait until the request behind a status line is done or failed; return the line."""
    return _wait(driver, f"(s => (s.textContent.startsWith('done') || s.classList.contains('error')) && s.textContent)"
                         f"(document.getElementById('{status_id}'))")


def _type(driver, element_id: str, text: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(text)


def _choose(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _decoded_seconds(driver, audio_id: str) -> float:
    """Duration the browser decoded from the element's source (waits for its metadata)."""
    return _wait(driver, f"(a => a.readyState >= 1 && isFinite(a.duration) && a.duration)"
                         f"(document.getElementById('{audio_id}'))", timeout=30)


def test_page_loads_with_the_bundled_models(page):
    models = _wait(page, "Array.from(document.querySelectorAll('#gen-model option')).map(o => o.value)", 30)
    assert "ctm" in models and "presto-s" in models, models
    control = page.execute_script("return Array.from(document.querySelectorAll('#ctl-model option')).map(o => o.value)")
    assert "ctm" in control
    assert page.execute_script("return document.querySelectorAll('#tag-fields select').length") >= 2


def test_generate_plays_a_clip(page):
    _choose(page, "gen-model", "ctm")
    _type(page, "gen-steps", "1")
    _type(page, "gen-seconds", "3")
    page.find_element("id", "gen-go").click()
    status = _finished(page, "gen-status")
    assert status.startswith("done"), status
    assert page.execute_script("return document.getElementById('gen-audio').src").startswith("data:audio/wav;base64,")
    assert not page.execute_script("return document.getElementById('gen-audio').hidden")
    assert _decoded_seconds(page, "gen-audio") == pytest.approx(3.0, abs=0.2)
    assert page.execute_script("return document.getElementById('gen-image').naturalWidth") > 100


def test_control_follows_a_typed_melody(page):
    page.find_element("css selector", "input[name=task][value=melody]").click()
    assert page.find_element("id", "notes").is_displayed() and not page.find_element("id", "curve").is_displayed()
    _type(page, "notes", "C5:1 E5:1 G5:2")
    _type(page, "ctl-iterations", "5")
    page.find_element("id", "ctl-go").click()
    status = _finished(page, "ctl-status")
    assert status.startswith("done") and '"iterations":5' in status, status
    assert _decoded_seconds(page, "ctl-audio") > 1.0
    assert page.execute_script("return document.getElementById('ctl-image').naturalWidth") > 100
