"""Issue 13, finding 5: evidence ownership and life cycle, against the real server on SQLite and PostgreSQL.

A department cites and downloads only files it (or a coordinator) uploaded; a foreign hash is answered exactly
like an unknown one; a re-upload shows the uploader's own file name; uploads no report cites within the TTL are
removed (`coop evidence cleanup`), cited ones never; a department's uncited uploads are capped (Chinese 413).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from conftest_web import (
    CHANGSHOU,
    PNG,
    YUBEI,
    Live,
    departments,
    plan_small,
    start_server,
    stored_files,
    web_settings,
)
from sqlalchemy import func, select, text, update

from coop import evidence as files
from coop.access import Role
from coop.services import evidence
from coop.services.schema import alembic_config, upgrade
from coop.store.access import issue_token
from models.db import get_engine, session_scope
from models.tables import EvidenceFile, EvidenceUpload, utcnow

COOP = str(Path(sys.executable).parent / "coop")


def _png(tag: str, size: int = 0) -> bytes:
    return PNG + tag.encode() + b"\x00" * size


def _upload(client: httpx.Client, content: bytes, name: str) -> httpx.Response:
    return client.post("/api/v1/evidence", files={"file": (name, content, "image/png")})


def _occurrence_of(live: Live, department: str) -> int:
    with live.client(_who(department)) as client:
        return int(client.get("/api/v1/occurrences").json()[0]["id"])


def _who(department: str) -> str:
    return {YUBEI: "yubei", CHANGSHOU: "changshou"}[department]


def _report(client: httpx.Client, occurrence: int, ref: str) -> httpx.Response:
    return client.post(
        f"/api/v1/occurrences/{occurrence}/reports", json={"outcome": "partial", "evidence": [ref], "note": "进展"}
    )


def test_a_department_cannot_cite_another_departments_file_and_learns_nothing(live: Live) -> None:
    content = _png("yubei-only")
    digest = hashlib.sha256(content).hexdigest()
    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    with live.client("yubei") as yubei, live.client("changshou") as changshou:
        assert _upload(yubei, content, "渝北活动照片.png").status_code == 201
        foreign = _report(changshou, _occurrence_of(live, CHANGSHOU), f"sha256:{digest}")
        missing = _report(changshou, _occurrence_of(live, CHANGSHOU), f"sha256:{unknown}")
        own = _report(yubei, _occurrence_of(live, YUBEI), f"sha256:{digest}")
    assert foreign.status_code == missing.status_code == 422, (foreign.text, missing.text)
    # The same answer for a file that exists elsewhere and one that does not: no existence oracle.
    assert foreign.json()["detail"].replace(digest, "H") == missing.json()["detail"].replace(unknown, "H")
    assert "本部门" in foreign.json()["detail"]
    assert own.status_code == 201, own.text


def test_a_re_upload_by_another_department_shows_its_own_name_and_is_then_citable(live: Live) -> None:
    content = _png("shared")
    digest = hashlib.sha256(content).hexdigest()
    with live.client("yubei") as yubei, live.client("changshou") as changshou:
        first = _upload(yubei, content, "渝北-签到表.png")
        second = _upload(changshou, content, "长寿-签到表.png")
        assert first.json()["filename"] == "渝北-签到表.png"
        assert second.status_code == 201 and second.json()["filename"] == "长寿-签到表.png", second.text
        assert _report(changshou, _occurrence_of(live, CHANGSHOU), f"sha256:{digest}").status_code == 201
        download = changshou.get(f"/api/v1/evidence/{digest}")
    assert download.status_code == 200
    assert "%E9%95%BF%E5%AF%BF" in download.headers["content-disposition"]  # 长寿, the downloader's own name
    assert len(stored_files(live)) == 1, "one file on disk, two uploads"


def test_departments_download_their_own_uploads_only(live: Live) -> None:
    content = _png("download-me")
    digest = hashlib.sha256(content).hexdigest()
    unknown = hashlib.sha256(b"nobody").hexdigest()
    with live.client("yubei") as yubei, live.client("changshou") as changshou, live.client("auditor") as auditor:
        assert _upload(yubei, content, "会议纪要.png").status_code == 201
        mine = yubei.get(f"/api/v1/evidence/{digest}")
        theirs = changshou.get(f"/api/v1/evidence/{digest}")
        nobody = changshou.get(f"/api/v1/evidence/{unknown}")
        not_a_department = auditor.get(f"/api/v1/evidence/{digest}")
    assert mine.status_code == 200 and mine.content == content
    assert mine.headers["content-type"] == "image/png"
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json() == nobody.json()
    assert not_a_department.status_code == 403


def _upload_rows(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        return (
            s.execute(select(func.count()).select_from(EvidenceUpload)).scalar_one(),
            s.execute(select(func.count()).select_from(EvidenceFile)).scalar_one(),
        )


def test_uncited_uploads_are_removed_after_the_ttl_and_cited_files_never(live: Live) -> None:
    orphan, cited, shared = _png("orphan"), _png("cited"), _png("shared-cited")
    with live.client("yubei") as yubei, live.client("changshou") as changshou:
        for content, name in [(orphan, "orphan.png"), (cited, "cited.png"), (shared, "shared.png")]:
            assert _upload(yubei, content, name).status_code == 201
        assert _upload(changshou, shared, "长寿.png").status_code == 201  # changshou never cites its copy
        occurrence = _occurrence_of(live, YUBEI)
        for content in (cited, shared):
            ref = f"sha256:{hashlib.sha256(content).hexdigest()}"
            assert _report(yubei, occurrence, ref).status_code == 201
    assert _upload_rows(live.db_url) == (4, 3)
    not_yet = evidence.cleanup(live.settings, now=utcnow() + dt.timedelta(hours=23))
    assert (not_yet.uploads, not_yet.files) == (0, 0)
    done = evidence.cleanup(live.settings, now=utcnow() + dt.timedelta(hours=25))
    assert (done.uploads, done.files) == (2, 1)  # the orphan and changshou's uncited copy; one file deleted
    assert _upload_rows(live.db_url) == (2, 2)
    on_disk = {p.name for p in stored_files(live)}
    assert hashlib.sha256(orphan).hexdigest() not in on_disk
    assert {hashlib.sha256(c).hexdigest() for c in (cited, shared)} <= on_disk
    with live.client("changshou") as changshou, live.client("yubei") as yubei:
        # Changshou's upload is gone: it may no longer cite or fetch the shared file; yubei still may.
        assert changshou.get(f"/api/v1/evidence/{hashlib.sha256(shared).hexdigest()}").status_code == 404
        assert yubei.get(f"/api/v1/evidence/{hashlib.sha256(shared).hexdigest()}").status_code == 200
        orphan_ref = f"sha256:{hashlib.sha256(orphan).hexdigest()}"
        assert _report(yubei, _occurrence_of(live, YUBEI), orphan_ref).status_code == 422


def test_coop_evidence_cleanup_command(live: Live, tmp_path: Path) -> None:
    content = _png("cli-orphan")
    with live.client("yubei") as yubei:
        assert _upload(yubei, content, "old.png").status_code == 201
    with session_scope(live.db_url) as s:
        s.execute(update(EvidenceUpload).values(uploaded_at=utcnow() - dt.timedelta(hours=30)))
    env = {
        **os.environ,
        "COOP_DATABASE_URL": live.db_url,
        "COOP_EVIDENCE_DIR": str(live.settings.evidence_dir),
        "COOP_EVIDENCE_TTL_HOURS": "24",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run(
        [COOP, "evidence", "cleanup"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "已清理 1 个未被报告引用的上传、1 个文件" in proc.stdout, proc.stdout
    assert _upload_rows(live.db_url) == (0, 0)
    assert stored_files(live) == []


@pytest.fixture
def quota_live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    """The server with a 1 MB quota of uncited uploads per department and 700 KB files."""
    occurrences = plan_small(db_url)
    depts = departments(db_url)
    with session_scope(db_url) as s:
        tokens = {
            "yubei": issue_token(s, Role.department, YUBEI, YUBEI).token,
            "changshou": issue_token(s, Role.department, CHANGSHOU, CHANGSHOU).token,
        }

    def settings_for(port: int):  # type: ignore[no-untyped-def]
        return web_settings(db_url, tmp_path, port, max_upload_bytes=700 * 1024, evidence_quota_mb=1)

    with start_server(settings_for) as (url, settings):
        yield Live(url, db_url, settings, occurrences, depts, tokens)


def test_a_departments_uncited_uploads_are_capped_with_a_chinese_413(quota_live: Live) -> None:
    live = quota_live
    with live.client("yubei") as yubei, live.client("changshou") as changshou:
        first = _upload(yubei, _png("a", 600 * 1024), "a.png")
        over = _upload(yubei, _png("b", 600 * 1024), "b.png")
        other_department = _upload(changshou, _png("c", 600 * 1024), "c.png")
        assert first.status_code == 201, first.text
        assert over.status_code == 413, over.text
        assert "上限" in over.json()["detail"] and len(over.content) < 1000
        assert other_department.status_code == 201, "the quota is per department"
        # Citing the first upload frees the quota.
        ref = f"sha256:{first.json()['sha256']}"
        assert _report(yubei, _occurrence_of(live, YUBEI), ref).status_code == 201
        again = _upload(yubei, _png("b", 600 * 1024), "b.png")
    assert again.status_code == 201, again.text
    refused = hashlib.sha256(_png("b", 600 * 1024)).hexdigest()
    assert not files.path_for(live.settings.evidence_dir, refused).with_suffix(".tmp").exists()
    assert not list((Path(live.settings.evidence_dir) / "incoming").glob("upload-*")), "staged file left behind"


def test_migration_takes_existing_files_over_as_cited_uploads(db_url: str, tmp_path: Path) -> None:
    """Files stored before 0012 become uploads of their first uploader, counted as cited: clean-up keeps them."""
    plan_small(db_url)
    depts = departments(db_url)
    cfg = alembic_config(db_url)
    with get_engine(db_url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0011")
    with get_engine(db_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO evidence_file (sha256, size, content_type, filename, department_id, created_at) "
                "VALUES (:h, 3, 'image/png', '旧文件.png', :d, :at)"
            ),
            {"h": "a" * 64, "d": depts[YUBEI], "at": utcnow() - dt.timedelta(days=400)},
        )
    upgrade(db_url)
    with session_scope(db_url) as s:
        [row] = s.execute(select(EvidenceUpload)).scalars().all()
        assert (row.sha256, row.department_id, row.filename) == ("a" * 64, depts[YUBEI], "旧文件.png")
        assert row.cited_at is not None
    settings = web_settings(db_url, tmp_path, 0)
    assert evidence.cleanup(settings).uploads == 0
    assert _upload_rows(db_url) == (1, 1)
