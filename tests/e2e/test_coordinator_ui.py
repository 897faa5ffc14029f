"""A coordinator works from the Prefect UI in Chromium: picks a deployment, fills its form, reads the result.

Everything is real: the server, deployments and worker `make ui` starts, the flows in worker subprocesses,
a SQLite COOP database, Debian's Chromium. Screenshots land in test-output/e2e/.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from e2e.driver import Coordinator, RunningUi
from playwright.sync_api import expect

from coop.agreement.loader import load_agreement
from coop.calendar import default_calendar
from coop.errors import AgreementError
from coop.planning import expand
from coop.settings import get_settings

pytestmark = pytest.mark.slow


def expected_rows(path: Path) -> list[list[str]]:
    """Occurrences per programme and responsible department, straight from the planner."""
    loaded = load_agreement(path)
    planned = expand(loaded, default_calendar(), get_settings().max_occurrences_per_clause)
    counts = Counter((p.programme, f"{p.party}/{p.department}") for p in planned)
    titles = {p.id: p.title for p in loaded.agreement.programmes}
    rows = [[f"{code} {titles[code]}", dept, str(n)] for (code, dept), n in counts.items()]
    order = list(titles)
    rows.sort(key=lambda r: (order.index(r[0].split(" ", 1)[0]), r[1]))
    return [*rows, ["合计", "", str(len(planned))]]


def _sql(database_url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return db.execute(query, args).fetchall()


def test_coordinator_plans_an_agreement_from_the_form(ui: RunningUi, coordinator: Coordinator) -> None:
    agreement = ui.agreements / "zhuzhou-elderly-room-2024.yaml"
    coordinator.open_home()
    coordinator.screenshot("01-dashboard")
    coordinator.open_deployment("plan-agreement")
    coordinator.screenshot("02-deployment")
    coordinator.open_run_form()
    # The form offers exactly the agreements in the folder, described in Chinese.
    form = coordinator.parameter("协议文件")
    assert "agreements/ 目录下随附的协议 YAML" in form.inner_text()
    labels = coordinator.page.locator(".schema-form-property__label").all_inner_texts()
    assert labels and not [x for x in labels if "database" in x]  # operator settings are not form fields
    # The plan date may stay empty (today) without the UI's None toggle; left empty, the run is still accepted below.
    assert any("计划基准日" in x for x in labels) and "Property is type" not in coordinator.page.content()
    coordinator.choose("协议文件", str(agreement))
    coordinator.screenshot("03-run-form")

    coordinator.submit_and_open_run()
    assert coordinator.wait_for_state({"Completed", "Failed", "Crashed"}) == "Completed"
    coordinator.screenshot("04-run-completed")

    coordinator.tab("Artifacts")
    coordinator.page.get_by_text("plan-zhuzhou-elderly-room-2024").first.click()
    rows = coordinator.table_after("按工程和责任单位统计的任务")
    coordinator.screenshot("05-plan-artifact")
    assert rows == expected_rows(agreement)
    total = int(rows[-1][2])
    coordinator.page.get_by_text(re.compile(rf"新增\s*{total}\s*项")).first.wait_for()
    stored = _sql(
        ui.database_url, "select count(*) from occurrence where agreement_id = ?", "zhuzhou-elderly-room-2024"
    )
    assert stored == [(total,)]
    assert coordinator.blocked == [], "the UI tried to reach beyond this machine"


def test_invalid_agreement_fails_the_run_with_file_line_in_the_logs(ui: RunningUi, coordinator: Coordinator) -> None:
    # Someone edits a shipped agreement and names a party that is not in it.
    broken = ui.agreements / "yugang-social-work-2024.yaml"
    text = broken.read_text(encoding="utf-8")
    assert "rotate: [广安市, 渝北区]\n" in text
    broken.write_text(text.replace("rotate: [广安市, 渝北区]\n", "rotate: [广安市, 渝中区]\n", 1), encoding="utf-8")
    with pytest.raises(AgreementError) as expected:
        load_agreement(broken)
    problem = str(expected.value.problems[0])
    assert problem.startswith(f"{broken}:") and "渝中区" in problem

    coordinator.open_home()
    coordinator.open_deployment("plan-agreement")
    coordinator.open_run_form()
    coordinator.choose("协议文件", str(broken))
    run_id = coordinator.submit_and_open_run()
    assert coordinator.wait_for_state({"Completed", "Failed", "Crashed"}) == "Failed"
    # The run's state message (top of the run page) is the Chinese explanation, file:line first.
    message = ui.api.wait(run_id)["state"]["message"]
    assert message.startswith("协议文件有误（共 1 处），本次未写入任何数据") and problem in message, message
    # The Logs tab (the run page opens on it) says what is wrong and where, without reading a traceback.
    explanation = coordinator.page.get_by_text("协议文件有误（共 1 处），本次未写入任何数据").first
    explanation.wait_for()
    expect(explanation).to_contain_text(problem)
    expect(explanation).not_to_contain_text("Traceback")
    explanation.scroll_into_view_if_needed()
    coordinator.screenshot("06-failed-run-explained", full_page=False)
    assert _sql(ui.database_url, "select count(*) from agreement where id = ?", "yugang-social-work-2024") == [(0,)]
    assert coordinator.blocked == []


def test_sweep_and_completion_leave_linked_artifacts(ui: RunningUi, coordinator: Coordinator) -> None:
    agreement = ui.agreements / "ningxia-database-2024.yaml"
    title = load_agreement(agreement).agreement.title
    plan = ui.api.run("plan-agreement", {"agreement": str(agreement), "today": "2025-01-01"})
    assert plan["state"]["type"] == "COMPLETED", ui.api.logs(plan["id"])

    sweep = ui.api.run("sweep-overdue", {"today": "2025-09-01"})
    assert sweep["state"]["type"] == "COMPLETED", ui.api.logs(sweep["id"])
    [(overdue,)] = _sql(ui.database_url, "select count(*) from occurrence where status = 'overdue'")
    assert overdue > 0
    [sweep_artifact] = [a for a in ui.api.artifacts(sweep["id"]) if a["key"] == "overdue-list"]
    assert f"逾期清单（共 {overdue} 项）" in sweep_artifact["data"]

    [(occurrence_id, party, department)] = _sql(
        ui.database_url,
        "select o.id, a.name, d.name from occurrence o join department d on d.id = o.department_id "
        "join agency a on a.id = d.agency_id where o.status = 'overdue' and o.agreement_id = ? order by o.id limit 1",
        "ningxia-database-2024",
    )
    done = ui.api.run(
        "record-completion",
        {"occurrence_id": occurrence_id, "department": f"{party}/{department}", "participants": 12, "note": "补报"},
    )
    assert done["state"]["type"] == "COMPLETED", ui.api.logs(done["id"])
    [completion] = [a for a in ui.api.artifacts(done["id"]) if a["key"] == "completion-ningxia-database-2024"]
    assert f"任务 #{occurrence_id}" in completion["data"] and "已完成" in completion["data"]
    assert _sql(ui.database_url, "select status from occurrence where id = ?", occurrence_id) == [("done",)]

    # In the UI: the overdue list links each agreement to its plan report.
    coordinator.page.goto(f"{ui.url}/runs/flow-run/{sweep['id']}")
    coordinator.tab("Artifacts")
    coordinator.page.get_by_text("overdue-list", exact=True).first.click()
    coordinator.page.get_by_text(f"逾期清单（共 {overdue} 项）").first.wait_for()
    coordinator.screenshot("07-overdue-list")
    with coordinator.page.context.expect_page() as opened:
        coordinator.page.get_by_role("link", name=title).first.click()
    # It opens the agreement's plan history (every plan report, newest first); the newest is the one planned above.
    history = opened.value
    history.wait_for_url("**/artifacts/key/plan-ningxia-database-2024")
    history.get_by_text(f"计划结果：{title}").first.wait_for()
    coordinator.screenshot("08-linked-plan-history", history)
    history.locator("a[href*='/artifacts/artifact/']").first.click()
    history.get_by_text("按工程和责任单位统计的任务").first.wait_for()
    coordinator.screenshot("09-linked-plan-report", history)
    assert coordinator.blocked == []
