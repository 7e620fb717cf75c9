"""The models page and /docs in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) against a real gunicorn.

Screenshots are saved under the test's temporary folder (their paths are printed)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from tests.service.conftest import flipped, numpy_probabilities, write_plot
from tests.service.gunicorn_server import running_service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver packages (scripts/test.sh installs them when run as root)")

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

MOON_0, MOON_1 = (0.0, 1.0), (1.0, -0.5)
"""A point inside each moon: the upper moon is label 0, the lower label 1."""


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(tmp_path, two_models, trained_layers):
    write_plot(two_models, trained_layers, "moons", 1)
    write_plot(two_models, flipped(trained_layers), "other", 2)
    with running_service(tmp_path, two_models, reload_interval_s=0, access_log_flush_s=0) as server:
        yield server


def _load(driver, url):
    """Open ``url`` and wait for it to finish loading, style and pictures included: a
    click before the style sheet applies lands where the picture no longer is."""
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda _: driver.execute_script("return document.readyState") == "complete")


def _click_at(driver, image, point):
    """Click the pixel of the picture where ``point`` is drawn, from the plane the page has."""
    # WebDriver's offsets start at the centre of the element's visible part: all of it, here
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    plane = json.loads(image.get_attribute("data-plane"))
    left, bottom, width, height = plane["box"]
    fx = left + (point[0] - plane["x1"][0]) / (plane["x1"][1] - plane["x1"][0]) * width
    fy = bottom + (point[1] - plane["x2"][0]) / (plane["x2"][1] - plane["x2"][0]) * height
    size = image.size
    ActionChains(driver).move_to_element_with_offset(
        image, round((fx - 0.5) * size["width"]), round((0.5 - fy) * size["height"])).click().perform()


def _result_after_click(driver, section):
    result = section.find_element(By.CSS_SELECTOR, ".result")
    WebDriverWait(driver, 10).until(lambda _: "P(label = 1)" in result.text or "error" in result.get_attribute("class"))
    match = re.fullmatch(r"\((-?[\d.]+), (-?[\d.]+)\): label (\d), P\(label = 1\) = ([\d.]+)", result.text)
    assert match, result.text
    return (float(match[1]), float(match[2])), int(match[3]), float(match[4])


def test_clicking_inside_each_moon_shows_its_label(browser, served, trained_layers, tmp_path):
    _load(browser, served.url + "/")
    for name, layers, flip in (("moons", trained_layers, False), ("other", flipped(trained_layers), True)):
        section = browser.find_element(By.ID, f"model-{name}")
        image = section.find_element(By.CSS_SELECTOR, "img.plot")
        WebDriverWait(browser, 10).until(lambda driver: driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image) == 600)
        for point, moon_label in ((MOON_0, 0), (MOON_1, 1)):
            _click_at(browser, image, point)
            clicked, label, probability = _result_after_click(browser, section)
            assert np.allclose(clicked, point, atol=0.02), (clicked, point)  # within a pixel or two
            expected = float(numpy_probabilities(layers, [clicked])[0])
            assert abs(probability - expected) < 1e-4 and label == int(expected > 0.5)
            assert label == (1 - moon_label if flip else moon_label), (name, point, label)
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot = tmp_path / "models-page.png"
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
    log = served.log()
    assert '"path":"/predict"' in log and '"path":"/v1/models/other/versions/2:predict"' in log


def test_a_click_outside_the_plane_predicts_nothing(browser, served):
    _load(browser, served.url + "/")
    section = browser.find_element(By.ID, "model-moons")
    image = section.find_element(By.CSS_SELECTOR, "img.plot")
    size = image.size
    ActionChains(browser).move_to_element_with_offset(image, -size["width"] // 2 + 5, -size["height"] // 2 + 5).click().perform()
    assert "outside the plane" in section.find_element(By.CSS_SELECTOR, ".result").text


def test_docs_lists_predict_and_try_it_out_answers(browser, served, tmp_path):
    browser.get(served.url + "/docs")
    wait = WebDriverWait(browser, 20)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    paths = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert "/predict" in paths and "/v2/models/{model_name}/infer" in paths and "/v1/models/{name}:predict" in paths
    predict = browser.find_element(By.ID, "operations-Moonserve-post_predict")
    predict.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    # /docs opens with "Try it out" on (tryItOutEnabled): Execute is there at once
    wait.until(lambda _: predict.find_elements(By.CSS_SELECTOR, ".execute")).pop().click()
    status = wait.until(lambda _: [cell for cell in predict.find_elements(
        By.CSS_SELECTOR, ".live-responses-table .response-col_status") if cell.text.strip()[:3].isdigit()])
    assert status[0].text.strip().startswith("200")
    body = predict.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    assert '"predictions"' in body and '"label"' in body
    screenshot = tmp_path / "docs.png"
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
