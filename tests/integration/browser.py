"""A real browser for UI tests: Debian's chromium, headless, driven through its chromedriver by
Selenium (``make install`` installs both; nothing is downloaded). One per module that asks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

# Where the UI tests save their screenshots (the README shows copies of them from docs/).
SCREENSHOTS = Path(os.environ.get("HUBSCALE_SCREENSHOT_DIR", "tests/results/screenshots"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 120.0  # JupyterLab's first load beside other tests' JVMs on two cores


def chromium() -> Iterator[WebDriver]:
    """A headless chromium session, quit afterwards (a generator for a fixture)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--window-size=1400,1000", "--disable-gpu"):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, hub_url: str, user: str, password: str) -> None:
    """Sign in through the hub's login form, as a person would (after signing anyone out: the
    hub's cookies live under /hub/, out of a page's reach elsewhere)."""
    driver.get(f"{hub_url}/hub/logout")
    driver.get(f"{hub_url}/hub/login")
    driver.find_element(By.ID, "username_input").send_keys(user)
    driver.find_element(By.ID, "password_input").send_keys(password)
    driver.find_element(By.ID, "login_submit").click()
    wait(driver).until(lambda d: "/hub/login" not in d.current_url)


def wait(driver: WebDriver, timeout_s: float = WAIT_S) -> WebDriverWait:
    return WebDriverWait(driver, timeout_s)


def visible_text(driver: WebDriver, css: str, timeout_s: float = WAIT_S) -> str:
    """The text of the first element matching ``css``, once it is visible."""
    located = expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    return wait(driver, timeout_s).until(located).text


def screenshot(driver: WebDriver, name: str) -> Path:
    """The page as ``SCREENSHOTS/<name>.png``, whole height (to look at after the run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS.resolve() / f"{name}.png"
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, max(1000, int(height) + 200))  # the window's own bars
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
