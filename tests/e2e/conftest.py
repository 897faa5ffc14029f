"""A real coordinators' UI for the browser tests: `python -m coop.ui` — what `make ui` runs — on an ephemeral port.

It gets its own PREFECT_HOME, SQLite COOP database and agreements folder (a copy of the shipped agreements)
in a temporary directory, so a test may break an agreement file without touching the repository.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AGREEMENTS, ROOT
from e2e.driver import CHROMIUM, CHROMIUM_ARGS, Coordinator, PrefectApi, RunningUi
from playwright.sync_api import Browser, sync_playwright

from coop.ui import free_port

READY = re.compile(r"界面 UI:\s+(http://\S+)")
STARTUP_SECONDS = 360


def _read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUi]:
    base = tmp_path_factory.mktemp("coop-ui")
    agreements = base / "agreements"
    agreements.mkdir()
    for path in AGREEMENTS.glob("*.yaml"):
        shutil.copy(path, agreements / path.name)
    database_url = f"sqlite:///{base / 'coop.db'}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(base / "prefect"),
        "COOP_DATABASE_URL": database_url,
        "COOP_AGREEMENTS_DIR": str(agreements),
        # A coordinator sees INFO logs in the UI; the test session itself runs Prefect at WARNING.
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "coop.ui", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    url = None
    deadline = time.monotonic() + STARTUP_SECONDS
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            output.append(lines.get(timeout=1))
        except queue.Empty:
            continue
        if match := READY.search(output[-1]):
            url = match.group(1)
    if url is None:
        proc.kill()
        with proc:  # waits, closes its output pipe
            pass
        pytest.fail("`python -m coop.ui` did not print the UI URL:\n" + "".join(output))
    api = PrefectApi(f"{url}/api")
    try:
        yield RunningUi(url, api, agreements, database_url, output)
    finally:
        api.close()
        proc.send_signal(signal.SIGINT)  # what Ctrl-C after `make ui` does
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            reader.join(timeout=30)  # it ends with the output, once every process of the stack has exited
            if not reader.is_alive():
                with proc:  # closes the output pipe
                    pass
        while not lines.empty():
            output.append(lines.get())
        assert code == 0, "".join(output)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def coordinator(ui: RunningUi, browser: Browser, request: pytest.FixtureRequest) -> Iterator[Coordinator]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN", timezone_id="Asia/Shanghai")
    person = Coordinator(context.new_page(), ui.url, ui.api)
    try:
        yield person
    finally:
        person.screenshot(f"{request.node.name}-last")
        context.close()
