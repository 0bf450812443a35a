"""Real-browser tests: headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by
Selenium against a real server process on the test database.

The data the server must see is committed: a module fixture creates the organization
"browser" (``browser.localhost``) with one user per role, and drops it again at the end.
Tests seed more data through the services inside ``in_org()``, which commits.

Without /usr/bin/chromium or /usr/bin/chromedriver the tests skip with a one-line reason,
except in CI (``CI=true``), where they must run and fail instead. Screenshots of the pages
are written to ``METAQORE_SCREENSHOT_DIR`` when it is set (``make screenshots`` refreshes
docs/screenshots/).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tenants.models import Organization
from tenants.services import organization_create
from tests.processes import database_url, http, running_server, subprocess_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ORG_SLUG = "browser"
ORG_HOST = "browser.localhost"
PASSWORD = "Browser-Pass-2024!"
USERS = {  # username: role
    "ada": "org_admin",
    "otto": "compliance_officer",
    "aud": "auditor",
    "vic": "viewer",
}
# Screenshots are written only on request (`make screenshots`), so test runs leave the
# committed docs/screenshots/ untouched.
SCREENSHOTS = (
    Path(os.environ["METAQORE_SCREENSHOT_DIR"])
    if os.environ.get("METAQORE_SCREENSHOT_DIR")
    else None
)
WAIT = 10  # seconds an element or a page load may take before a test fails
CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # root in CI and containers
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1400,1000",
    # Every org host (browser.localhost, ...) is this machine, whatever the resolver says.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
)


def browser_or_skip() -> None:
    """Skip (fail in CI) when this machine has no Chromium for Selenium to drive."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    reason = f"no {' or '.join(missing)} (apt-get install chromium chromium-driver; make browser)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but there is {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """When a browser test fails, add where the browser was, a screenshot and the server's
    log of that test to the report."""
    report = yield
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(browser, Browser):
        shot = item.funcargs["tmp_path"] / "failure.png"
        with contextlib.suppress(Exception):  # the browser itself may be what broke
            browser.driver.save_screenshot(str(shot))
            report.sections.append(("browser", f"at {browser.driver.current_url}; {shot}"))
        report.sections.append(("server log", browser.site.log_tail(browser.log_start)))
    return report


# --- committed data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_org(django_db_setup, django_db_blocker) -> Iterator[Organization]:
    """The committed org "browser" with the users ada (org_admin), otto (compliance_officer),
    aud (auditor) and vic (viewer), created as ``manage.py create_user`` does."""
    browser_or_skip()  # before the slow part: a new schema, migrated
    with django_db_blocker.unblock():
        stale = Organization.objects.filter(slug=ORG_SLUG).first()
        if stale is not None:  # left behind by an interrupted run
            stale.delete(force_drop=True)
        organization = organization_create(slug=ORG_SLUG, name="Browser Labs", domain=ORG_HOST)
        for username, role in USERS.items():
            call_command(
                "create_user",
                username,
                org=ORG_SLUG,
                password=PASSWORD,
                role=role,
                stdout=io.StringIO(),
            )
        connection.set_schema_to_public()
    try:
        yield organization
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            organization.delete(force_drop=True)


@pytest.fixture(scope="module")
def in_org(browser_org, django_db_blocker):
    """``with in_org(): ...`` runs ORM code in the org's schema, autocommitted, so the server
    process sees it."""

    @contextlib.contextmanager
    def run() -> Iterator[Organization]:
        with django_db_blocker.unblock():
            connection.set_tenant(browser_org)
            try:
                yield browser_org
            finally:
                connection.set_schema_to_public()

    return run


# --- the server ---------------------------------------------------------------------------


class LiveSite:
    """The server process and the org's URLs on it."""

    def __init__(self, base: str, log: Path):
        self.port = int(base.rsplit(":", 1)[1])
        self.base = base  # http://127.0.0.1:<port>
        self.log = log

    def url(self, path: str) -> str:
        return f"http://{ORG_HOST}:{self.port}{path}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, Message, bytes]:
        """An HTTP request outside the browser, to the org's host (by its Host header)."""
        path = path_or_url.split(f"{ORG_HOST}:{self.port}", 1)[-1]
        assert path.startswith("/"), path_or_url
        return http(
            method, f"{self.base}{path}", headers={"Host": ORG_HOST, **(headers or {})}, body=body
        )

    def log_tail(self, start: int = 0, limit: int = 6000) -> str:
        text = self.log.read_text(errors="replace")[start:]
        return text[-limit:]


@pytest.fixture(scope="module")
def live_site(browser_org, tmp_path_factory) -> Iterator[LiveSite]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = subprocess_env(
        DATABASE_URL=database_url(connection.settings_dict),
        METAQORE_ENABLE_RATE_LIMIT="false",
        METAQORE_SECURE_COOKIES="false",  # plain http: the browser must send the session back
        DEBUG="false",
        # The webhook journey's receiver listens on 127.0.0.1.
        METAQORE_WEBHOOK_ALLOW_PRIVATE="true",
    )
    with running_server(env, log=log) as base:
        yield LiveSite(base, log)


# --- the browser --------------------------------------------------------------------------


class Browser:
    """A Selenium Chromium session with the few helpers the journeys need."""

    def __init__(self, driver, site: LiveSite, log_start: int = 0):
        self.driver = driver
        self.site = site
        self.log_start = log_start  # where this test's part of the server log starts

    # navigation
    def open(self, path: str) -> None:
        self.driver.get(self.site.url(path))

    @property
    def path(self) -> str:
        return self.driver.current_url.split(f"{ORG_HOST}:{self.site.port}", 1)[-1]

    def login(self, username: str, password: str = PASSWORD, *, screenshot: bool = False):
        self.open("/dashboard/login/")
        self.css("input[name=username]").send_keys(username)
        self.css("input[name=password]").send_keys(password)
        if screenshot:
            self.screenshot("login")
        self.click_and_wait(self.css("button[type=submit]"))
        assert self.path == "/dashboard/", f"login as {username} ended on {self.path}"

    # elements
    def css(self, selector: str, within=None):
        """The element matching ``selector``, waiting for it to appear."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.wait import WebDriverWait

        if within is not None:
            return within.find_element(By.CSS_SELECTOR, selector)
        return WebDriverWait(self.driver, WAIT).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, selector)),
            f"no element {selector!r} on {self.path}",
        )

    def all(self, selector: str, within=None) -> list:
        from selenium.webdriver.common.by import By

        return (within or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def exists(self, selector: str) -> bool:
        return bool(self.all(selector))

    def text(self, selector: str) -> str:
        return self.css(selector).text

    def click_and_wait(self, element) -> None:
        """Click something that loads a new page (a link, a submit button), and wait for it."""
        from selenium.common.exceptions import NoAlertPresentException, WebDriverException
        from selenium.webdriver.support.wait import WebDriverWait

        page = self.driver.find_element("tag name", "html")
        element.click()
        with contextlib.suppress(NoAlertPresentException):  # a confirm("Revoke?") dialog
            self.driver.switch_to.alert.accept()

        def old_page_gone(_driver) -> bool:
            # Stale once the new page replaced it. During the navigation chromedriver may also
            # answer "Node … does not belong to the document" (a WebDriverException), which
            # means the same thing.
            try:
                page.is_enabled()
            except WebDriverException:
                return True
            return False

        WebDriverWait(self.driver, WAIT).until(
            old_page_gone, f"no new page after the click on {self.path}"
        )
        self.wait_loaded()

    def submit(self, form) -> None:
        """Submit ``form`` with its own submit button, as a user does."""
        self.click_and_wait(self.css("[type=submit], button:not([type])", within=form))

    def wait_loaded(self) -> None:
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    # outside the browser, as the logged-in user
    def cookie_header(self) -> str:
        return "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())

    def fetch(self, path_or_url: str) -> tuple[int, Message, bytes]:
        """GET with the browser's cookies (its session), e.g. a download link's href."""
        return self.site.request("GET", path_or_url, headers={"Cookie": self.cookie_header()})

    def fetch_json(self, path_or_url: str):
        status, _headers, body = self.fetch(path_or_url)
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def screenshot(self, name: str) -> Path | None:
        """Save the page as ``<name>.png`` when screenshots were asked for; the page is
        captured as PNG bytes either way, so a rendering failure still fails the test."""
        png = self.driver.get_screenshot_as_png()
        assert png.startswith(b"\x89PNG"), "the browser did not render a page"
        if SCREENSHOTS is None:
            return None
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        target.write_bytes(png)
        return target


def chromium_driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*CHROMIUM_ARGUMENTS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager (which downloads drivers) never runs.
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(live_site, tmp_path) -> Iterator[Browser]:
    """A fresh headless Chromium (own profile, no cookies) on the live server."""
    log_start = live_site.log.stat().st_size if live_site.log.exists() else 0
    started = time.monotonic()
    driver = chromium_driver(tmp_path / "chromium-profile")
    try:
        yield Browser(driver, live_site, log_start=log_start)
    finally:
        driver.quit()
        print(f"browser session: {time.monotonic() - started:.1f} s")
