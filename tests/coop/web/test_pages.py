"""The signed-link HTML pages over real HTTP.

Single purpose, expiring, single use, validated, nothing written on refusal.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from conftest_web import PLANNED, PNG, TUANQUWEI, YUBEI, Live, counts, stored_files
from sqlalchemy import select

from coop.access import LinkSigner
from models.db import session_scope
from models.tables import LedgerEvent, Report, UsedLink


def signer(live: Live) -> LinkSigner:
    assert live.settings.secret_key is not None
    return LinkSigner(live.settings.secret_key.get_secret_value())


def report_link(live: Live, key: str = "1.1@2026-12-31", department: str = YUBEI, **kwargs: object) -> str:
    return "/r/" + signer(live).issue("report", live.departments[department], live.occurrences[key], **kwargs)  # type: ignore[arg-type]


def post_form(
    client: httpx.Client, path: str, data: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]] | None = None
) -> httpx.Response:
    return client.post(path, data=data, files=files or [("files", ("", b"", "application/octet-stream"))])


def test_list_link_shows_own_open_items_with_working_report_links(live: Live) -> None:
    path = "/d/" + signer(live).issue("list", live.departments[YUBEI])
    with live.client() as client:
        page = client.get(path)
        assert page.status_code == 200
        assert "渝北区区委社会工作部" in page.text and "联合培训" in page.text
        assert "河小青净滩行动" not in page.text  # 团区委's clause
        links = re.findall(r'href="(/r/[^"]+)"', page.text)
        assert len(links) == 9  # eight 1.1 quarters and 1.2 for 渝北区, all still open (the overdue ones too)
        form = client.get(links[0])
    assert form.status_code == 200 and 'name="outcome"' in form.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"


def test_form_submission_records_once_and_replay_is_refused(live: Live) -> None:
    path = report_link(live)
    with live.client() as client:
        form = client.get(path)
        assert form.status_code == 200 and "目标 50" in form.text
        done = post_form(
            client,
            path,
            {
                "outcome": "partial",
                "participants": "30",
                "metric.participants": "30",
                "evidence": "https://example.cn/a.jpg\n\n",
                "note": "第一批",
            },
            [("files", ("签到表.png", PNG, "image/png"))],
        )
        assert done.status_code == 201, done.text
        assert "已记录" in done.text and "已报告 30 / 目标 50" in done.text
        replay = post_form(client, path, {"outcome": "done"})
        reopened = client.get(path)
        [next_link] = re.findall(r'href="(/r/[^"]+)"', done.text)
        second = post_form(client, next_link, {"outcome": "done", "metric.participants": "20"})
    assert replay.status_code == 410 and "已使用" in replay.text
    assert reopened.status_code == 410
    assert second.status_code == 201 and "已报告 50 / 目标 50" in second.text
    with session_scope(live.db_url) as s:
        reports = s.execute(select(Report).order_by(Report.id)).scalars().all()
        assert [r.outcome for r in reports] == ["partial", "done"]
        assert reports[0].evidence[0] == "https://example.cn/a.jpg" and reports[0].evidence[1].startswith("sha256:")
        assert len(s.execute(select(UsedLink)).all()) == 2
        after_plan = s.execute(select(LedgerEvent).order_by(LedgerEvent.id).offset(PLANNED[1])).scalars().all()
        events = [(e.kind, e.actor) for e in after_plan]
    assert events == [("occurrence_progress", f"{YUBEI}（网页链接）"), ("occurrence_done", f"{YUBEI}（网页链接）")]
    assert len(stored_files(live)) == 1


@pytest.mark.parametrize(
    "data, files, status, text",
    [
        ({"outcome": "done", "participants": "-5"}, None, 422, "参与人数"),
        ({"outcome": "done", "metric.participants": "999999999999"}, None, 422, "参与人数"),
        ({"outcome": "done", "metric.participants": "1e3"}, None, 422, "参与人数"),
        ({"outcome": "done", "metric.suggestions": "3"}, None, 422, "没有指标"),
        ({"outcome": "maybe"}, None, 422, "请选择完成情况"),
        ({"outcome": "cannot", "note": ""}, None, 422, "原因"),
        ({"outcome": "done", "evidence": "javascript:alert(1)"}, None, 422, "佐证材料"),
        (
            {"outcome": "done"},
            [("files", ("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 70_000, "image/png"))],
            413,
            "上限",
        ),
        ({"outcome": "done"}, [("files", ("a.pdf", b"MZ\x90\x00 windows exe", "application/pdf"))], 415, "不支持"),
    ],
)
def test_invalid_form_is_shown_again_and_nothing_is_written(
    live: Live, data: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]] | None, status: int, text: str
) -> None:
    path = report_link(live)
    with live.client() as client:
        response = post_form(client, path, data, files)
        assert response.status_code == status, response.text
        assert text in response.text and 'id="error"' in response.text
        # The refused attempt did not use up the link.
        assert client.get(path).status_code == 200
    assert counts(live.db_url) == PLANNED
    assert stored_files(live) == []


def test_closed_occurrence_cannot_be_reported(live: Live) -> None:
    path = report_link(live)
    with live.client("yubei") as api:
        assert api.post(f"/api/v1/occurrences/{live.occurrences['1.1@2026-12-31']}/reports", json={}).status_code == 201
    with live.client() as client:
        assert client.get(path).status_code == 409
        assert post_form(client, path, {"outcome": "done"}).status_code == 409


def test_links_expire_are_single_purpose_and_cannot_be_forged(live: Live) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = report_link(live, ttl=dt.timedelta(days=7), now=past)
    list_link = "/d/" + signer(live).issue("list", live.departments[YUBEI])
    good = report_link(live)
    forged = "/r/" + LinkSigner("another-secret-key-0123456789").issue(
        "report", live.departments[YUBEI], live.occurrences["1.1@2026-12-31"]
    )
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    with live.client() as client:
        assert client.get(expired).status_code == 410 and "过期" in client.get(expired).text
        assert post_form(client, expired, {"outcome": "done"}).status_code == 410
        assert client.get(list_link.replace("/d/", "/r/")).status_code == 403
        assert post_form(client, list_link.replace("/d/", "/r/"), {"outcome": "done"}).status_code == 403
        assert client.get(good.replace("/r/", "/d/")).status_code == 403
        assert client.get(forged).status_code == 404
        assert client.get(tampered).status_code == 404
        assert post_form(client, tampered, {"outcome": "done"}).status_code == 404
        assert client.get("/r/" + "x" * 5000).status_code == 404
    assert counts(live.db_url) == PLANNED


def test_link_for_another_departments_occurrence_is_404(live: Live) -> None:
    # A correctly signed link whose department does not owe the occurrence (e.g. after a re-plan moved it).
    path = report_link(live, key="6.1@2027-03-10", department=YUBEI)
    with live.client() as client:
        assert client.get(path).status_code == 404
        assert post_form(client, path, {"outcome": "done"}).status_code == 404
    own = report_link(live, key="6.1@2027-03-10", department=TUANQUWEI)
    with live.client() as client:
        assert client.get(own).status_code == 200
    assert counts(live.db_url) == PLANNED


def test_oversized_request_body_is_refused_before_parsing(live: Live) -> None:
    path = report_link(live)
    limit = live.settings.max_upload_bytes * 10 + 256 * 1024
    with live.client() as client:
        declared = client.post(
            path, content=b"x" * (limit + 1), headers={"content-type": "multipart/form-data; boundary=b"}
        )

        def chunked():  # a well-formed upload without Content-Length: the limit is counted while reading
            yield (
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n"
            )
            for _ in range(limit // 65536 + 2):
                yield b"y" * 65536

        streamed = client.post(path, content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"})
        too_many = client.post(
            path, data={"outcome": "done"}, files=[("files", (f"{i}.png", PNG, "image/png")) for i in range(11)]
        )
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert too_many.status_code == 400
    assert counts(live.db_url) == PLANNED
    assert stored_files(live) == []


def test_unstorable_text_is_refused_not_a_server_error(live: Live) -> None:
    path = report_link(live)
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="outcome"\r\n\r\ncannot\r\n'
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n\xff\xfe broken \xed\xa0\x80\r\n--b--\r\n'
    )
    with live.client() as client:
        nul = post_form(client, path, {"outcome": "cannot", "note": "原因\x00隐藏"})
        broken = client.post(path, content=raw, headers={"content-type": "multipart/form-data; boundary=b"})
    assert nul.status_code == 422 and "不允许的字符" in nul.text
    # Bytes that are not UTF-8 are decoded leniently by the form parser (as Latin-1): stored as text, no 5xx.
    assert broken.status_code == 201, broken.text
    assert counts(live.db_url) == (1, PLANNED[1] + 1, 0)


def test_one_link_submitted_twice_at_once_records_once(live: Live) -> None:
    import threading

    path = report_link(live)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def submit() -> None:
        with live.client() as client:
            barrier.wait()
            statuses.append(post_form(client, path, {"outcome": "partial", "metric.participants": "5"}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 410, 410, 410]
    assert counts(live.db_url) == (1, PLANNED[1] + 1, 0)
