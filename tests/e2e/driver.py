"""What the end-to-end tests drive: the Prefect REST API of a running UI stack, and the UI in Chromium.

The browser part does what a coordinator does — navigation by clicking, forms filled through their widgets —
so a change in how Prefect renders deployments, forms or artifacts shows up here first.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "e2e"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, headless, with everything that talks to Google switched off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait in these tests is on state (an element, a URL, a run's state); this is only the overall deadline, generous
# because a loaded 2-core box (CI, stress-ng) can take many times the usual second. A quick step stays quick.
UI_TIMEOUT_MS = 180_000
API_TIMEOUT_S = 120.0
expect.set_options(timeout=UI_TIMEOUT_MS)
RUN_PAGE = re.compile(r".*/runs/flow-run/[0-9a-f-]{36}")
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class _RetryWhenBusy(httpx.HTTPTransport):
    """As Prefect's own client does: a server whose database is busy answers 503 (or 429) and did nothing; ask again."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(6):
            response = super().handle_request(request)
            if response.status_code not in (429, 503) or attempt == 5:
                return response
            response.close()
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


class PrefectApi:
    """The few REST calls the tests need, against one server (no client settings shared with other tests)."""

    def __init__(self, api_url: str):
        self.http = httpx.Client(base_url=api_url, timeout=API_TIMEOUT_S, transport=_RetryWhenBusy())

    def deployment_id(self, name: str) -> str:
        response = self.http.get(f"/deployments/name/{name}/{name}")
        response.raise_for_status()
        return str(response.json()["id"])

    def run(self, name: str, parameters: dict[str, Any], timeout: float = 240.0) -> dict[str, Any]:
        """Create a run of a deployment (as the UI's Run button does) and wait until it ends."""
        response = self.http.post(
            f"/deployments/{self.deployment_id(name)}/create_flow_run", json={"parameters": parameters}
        )
        assert response.status_code == 201, f"{name} {parameters}: {response.status_code} {response.text}"
        return self.wait(str(response.json()["id"]), timeout)

    def wait(self, flow_run_id: str, timeout: float = 240.0) -> dict[str, Any]:
        """Poll the run's state until it is terminal; `timeout` is only the overall deadline."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.http.get(f"/flow_runs/{flow_run_id}").json()
            if run["state"]["type"] in TERMINAL:
                return dict(run)
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {flow_run_id} still {run['state']['type']} after {timeout:.0f}s")
            time.sleep(1)

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        response = self.http.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
        response.raise_for_status()
        return list(response.json())

    def logs(self, flow_run_id: str) -> list[str]:
        response = self.http.post(
            "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}
        )
        response.raise_for_status()
        return [entry["message"] for entry in response.json()]

    def run_named(self, name: str) -> str | None:
        """The id of the flow run with this name, if the server has created it."""
        response = self.http.post("/flow_runs/filter", json={"flow_runs": {"name": {"any_": [name]}}, "limit": 1})
        response.raise_for_status()
        found = response.json()
        return str(found[0]["id"]) if found else None

    def workers(self, pool: str) -> list[dict[str, Any]]:
        response = self.http.post(f"/work_pools/{pool}/workers/filter", json={})
        response.raise_for_status()
        return list(response.json())

    def close(self) -> None:
        self.http.close()


@dataclass
class RunningUi:
    """What `python -m coop.ui` brought up for a test, and where its COOP data lives."""

    url: str
    api: PrefectApi
    agreements: Path
    database_url: str
    output: list[str]


@dataclass
class Coordinator:
    """A person at the Prefect UI: clicks, fills forms, reads pages; every request stays on this machine."""

    page: Page
    ui_url: str
    api: PrefectApi
    blocked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.page.context.route("**/*", self._only_loopback)

    def _only_loopback(self, route: Route) -> None:
        url = route.request.url
        if LOOPBACK.match(url) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def screenshot(self, name: str, page: Page | None = None, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=full_page)
        return path

    def open_home(self) -> None:
        self.page.goto(self.ui_url)
        self.nav("Dashboard").wait_for()

    def nav(self, item: str) -> Locator:
        """The sidebar's entries (links rendered with role=button)."""
        return self.page.locator("a.p-context-nav-item", has_text=re.compile(rf"^\s*{re.escape(item)}\s*$")).first

    def open_deployment(self, name: str) -> None:
        self.nav("Deployments").click()
        self.page.locator(
            "a[href*='/deployments/deployment/']", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")
        ).first.click()
        self.page.get_by_role("button", name="Run", exact=True).wait_for()

    def open_run_form(self) -> None:
        self.page.get_by_role("button", name="Run", exact=True).click()
        self.page.get_by_text("Custom run", exact=True).click()
        self.page.get_by_role("button", name="Submit").wait_for()

    def parameter(self, name: str) -> Locator:
        """A form field by its label (the parameter's Chinese title, e.g. 协议文件)."""
        return self.page.locator(
            ".schema-form-property",
            has=self.page.locator(
                ".schema-form-property__label", has_text=re.compile(rf"^{re.escape(name)}(?:\s|\(|$)")
            ),
        ).first

    def choose(self, parameter: str, value: str) -> None:
        """Pick one of a parameter's choices in its drop-down (it opens on ArrowDown, then filters as one types)."""
        control = self.parameter(parameter).locator("button.p-select-button__control")
        control.click()
        option = self.page.get_by_text(value, exact=True)
        if not option.first.is_visible():
            control.press("ArrowDown")
        search = self.page.get_by_placeholder("Search")
        if search.count():
            search.first.fill(Path(value).name)
        self.page.locator(".p-select-option", has_text=value).first.click()
        expect(control).to_have_text(value)

    def run_name(self) -> str:
        return self.page.locator("input").first.input_value()

    def submit_and_open_run(self) -> str:
        """Submit the form, then follow the confirmation's "View run"; returns the new flow run's id.

        On a loaded box the confirmation toast may come and go between two looks; then the run the server created
        under the form's run name is opened as the coordinator would from the Runs list.
        """
        name = self.run_name()
        self.page.get_by_role("button", name="Submit").click()
        view = self.page.locator(".toast-flow-run-create", has_text=name).get_by_role("button", name="View run").first
        # The toast slides in and re-renders while it does; a pointer click keeps missing it, so press it directly,
        # and again while it is still there and the run page has not come (a press during a re-render is lost).
        # Under heavy load Prefect's own server (SQLite) may refuse the create request ("Oops. Something went
        # wrong."); nothing was created then, and the coordinator submits again, as a person would.
        failed = self.page.get_by_text(re.compile(r"Something went wrong"))
        resubmits = seen = 0
        deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
        while not RUN_PAGE.match(self.page.url):
            if time.monotonic() > deadline:
                self.screenshot("submit-timeout")
                raise AssertionError(f"the run page did not open from the confirmation; still at {self.page.url}")
            shown = failed.count()
            seen = min(seen, shown)  # toasts close by themselves; a new one counts again
            if shown > seen and resubmits < 3 and self.api.run_named(name) is None:
                seen, resubmits = shown, resubmits + 1
                self.page.get_by_role("button", name="Submit").click()
                continue
            if view.is_visible():
                view.dispatch_event("click")
            elif (run_id := self.api.run_named(name)) is not None and not view.is_visible():
                self.page.goto(f"{self.ui_url.rstrip('/')}/runs/flow-run/{run_id}")
            try:
                self.page.wait_for_url(RUN_PAGE, wait_until="commit", timeout=5_000)
            except PlaywrightTimeout:
                continue
        self.page.locator(".page-heading, h1, .p-bread-crumbs", has_text=name).first.wait_for()
        return self.page.url.split("/runs/flow-run/")[1][:36]

    def wait_for_state(self, states: set[str], timeout: float = 240.0) -> str:
        """The run page refreshes itself; read its state badge until the run has ended (`timeout`: the deadline)."""
        badge = self.page.locator(".state-badge").first
        deadline = time.monotonic() + timeout
        while True:
            text = badge.inner_text().strip() if badge.count() else ""
            if text in states:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"run still '{text}' after {timeout:.0f}s")
            time.sleep(1)

    def tab(self, name: str) -> None:
        self.page.locator("[role=tablist] .p-tab", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).first.click()

    def table_after(self, heading: str) -> list[list[str]]:
        """Body rows of the first table after a rendered Markdown heading, as cell texts."""
        table = self.page.locator(
            f"xpath=//*[self::h1 or self::h2 or self::h3][contains(., '{heading}')]/following::table[1]"
        )
        table.wait_for()
        rows = table.locator("tbody tr")
        return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
