"""`coop draft`: a signed agreement's Word text becomes a YAML draft whose every open decision `coop check` reports."""

from __future__ import annotations

import html
import subprocess
from pathlib import Path

import docx
import pytest
from conftest import AGREEMENTS
from pypdf import PdfWriter
from ruamel.yaml import YAML
from typer.testing import CliRunner

from coop.agreement.check import check_file
from coop.agreement.loader import load_agreement
from coop.agreement.schema import Agreement
from coop.cli import app

runner = CliRunner()
NUMERALS = "一二三四五六七八九十"
SOURCE = AGREEMENTS / "yugang-social-work-2024.yaml"
CHROMIUM = "/usr/bin/chromium"  # Debian's, as in tests/e2e: prints the PDF a signed agreement arrives as


def _signed_document(agreement: Agreement, path: Path) -> None:
    """The agreement as its signed Word file reads: preamble, 一、 headings, （一） items, a signature table."""
    doc = docx.Document()
    doc.add_heading(agreement.title, level=1)
    roles = "甲乙丙丁戊己庚辛"
    for role, party in zip(roles, agreement.parties, strict=False):
        doc.add_paragraph(f"{role}方：{party.full_name or party.name}")
    doc.add_paragraph("为推动合作，经各方协商，达成如下协议。本协议有效期三年，自签订之日起生效。")
    for pi, programme in enumerate(agreement.programmes):
        doc.add_paragraph(f"{NUMERALS[pi]}、{programme.title}")
        for ci, clause in enumerate(programme.clauses):
            doc.add_paragraph(f"（{NUMERALS[ci]}）{clause.text or clause.title}")
    table = doc.add_table(rows=0, cols=2)
    for role, party in zip(roles, agreement.parties, strict=False):
        cells = table.add_row().cells
        cells[0].text = f"{role}方（盖章）：{party.full_name or party.name}"
        cells[1].text = "代表："
    doc.add_paragraph(f"签订日期：{agreement.signed.year}年{agreement.signed.month}月{agreement.signed.day}日")
    doc.save(str(path))


def test_draft_from_a_signed_word_file(tmp_path: Path) -> None:
    agreement = load_agreement(SOURCE).agreement
    document = tmp_path / "协议.docx"
    _signed_document(agreement, document)

    result = runner.invoke(app, ["draft", str(document), "--id", "yugang-draft"])
    assert result.exit_code == 0, result.output
    target = tmp_path / "协议.yaml"
    assert f"已生成草稿 {target}" in result.output

    text = target.read_text(encoding="utf-8")
    data = YAML(typ="safe", pure=True).load(text)
    assert data["id"] == "yugang-draft" and data["title"] == agreement.title
    assert data["signed"] == agreement.signed
    assert [p["full_name"] for p in data["parties"]] == [p.full_name or p.name for p in agreement.parties]
    assert [p["title"] for p in data["programmes"]] == [p.title for p in agreement.programmes]
    for drafted, programme in zip(data["programmes"], agreement.programmes, strict=True):
        assert [c["text"] for c in drafted["clauses"]] == [c.text or c.title for c in programme.clauses]
        assert [c["id"] for c in drafted["clauses"]] == [
            f"{drafted['id']}.{i}" for i in range(1, len(programme.clauses) + 1)
        ]
    assert "# TODO 协议期 term：start/end，YYYY-MM-DD（原文：“有效期三年，自签订之日起生效”）" in text

    clauses = sum(len(p.clauses) for p in agreement.programmes)
    problems = check_file(target)
    todos = [p for p in problems if p.message.startswith("待定事项")]
    # per clause: kind, responsible, recurrence; per party: departments; and the term
    assert len(todos) == 3 * clauses + len(agreement.parties) + 1
    lines = text.splitlines()
    assert all(lines[p.line - 1][p.column - 1 :].startswith("# TODO") for p in todos if p.line and p.column)
    assert problems == todos  # a missing key its TODO names is that TODO, reported once
    untodo = target.with_name("no-todo.yaml")
    untodo.write_text(text.replace("# TODO 协议期 term", "# 协议期 term"), encoding="utf-8")
    assert any(p.message == "'term': 缺少必填项 (is required but missing)" for p in check_file(untodo))

    checked = runner.invoke(app, ["check", str(target)])
    assert checked.exit_code == 1
    assert f"{target}:{todos[0].line}:{todos[0].column}: 待定事项：" in checked.output


def test_draft_does_not_overwrite_and_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    agreement = load_agreement(SOURCE).agreement
    document = tmp_path / "协议.docx"
    _signed_document(agreement, document)
    (tmp_path / "协议.yaml").write_text("# 手写的协议\n", encoding="utf-8")
    result = runner.invoke(app, ["draft", str(document)])
    assert result.exit_code == 2 and "文件已存在；要覆盖请加 --force" in result.output
    assert (tmp_path / "协议.yaml").read_text(encoding="utf-8") == "# 手写的协议\n"
    assert runner.invoke(app, ["draft", str(document), "--force"]).exit_code == 0

    scanned = tmp_path / "扫描件.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with scanned.open("wb") as fh:
        writer.write(fh)
    result = runner.invoke(app, ["draft", str(scanned)])
    assert result.exit_code == 2 and "文档中没有可读取的文字（扫描件须先做文字识别）" in result.output
    assert not (tmp_path / "扫描件.yaml").exists()

    legacy = tmp_path / "旧版.doc"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0")
    result = runner.invoke(app, ["draft", str(legacy)])
    assert result.exit_code == 2 and ".doc 请先另存为 .docx" in result.output


@pytest.mark.parametrize("name", ["坏.docx"])
def test_a_broken_word_file_is_a_clear_error(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(b"not a zip")
    result = runner.invoke(app, ["draft", str(bad)])
    assert result.exit_code == 2 and "不是有效的 Word (.docx) 文件" in result.output
    assert "Traceback" not in result.output


def test_draft_from_a_pdf_with_a_text_layer(tmp_path: Path) -> None:
    """A PDF printed by Chromium from the agreement's text: long clauses wrap across lines and are joined again."""
    agreement = load_agreement(AGREEMENTS / "ningxia-database-2024.yaml").agreement
    roles = "甲乙丙丁戊己庚辛"
    paragraphs = [agreement.title]
    for pi, programme in enumerate(agreement.programmes):
        paragraphs.append(f"{NUMERALS[pi]}、{programme.title}")
        paragraphs += [f"{ci + 1}. {c.text or c.title}" for ci, c in enumerate(programme.clauses)]
    paragraphs += [
        f"{role}方（盖章）：{p.full_name or p.name}" for role, p in zip(roles, agreement.parties, strict=False)
    ]
    page = tmp_path / "协议.html"
    page.write_text(
        '<html><head><meta charset="utf-8"></head><body>'
        + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        + "</body></html>",
        encoding="utf-8",
    )
    pdf = tmp_path / "协议.pdf"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip

    result = runner.invoke(app, ["draft", str(pdf)])
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe", pure=True).load((tmp_path / "协议.yaml").read_text(encoding="utf-8"))
    assert data["title"] == agreement.title
    assert [p["name"] for p in data["parties"]] == [p.full_name or p.name for p in agreement.parties]
    assert [p["title"] for p in data["programmes"]] == [p.title for p in agreement.programmes]
    for drafted, programme in zip(data["programmes"], agreement.programmes, strict=True):
        # PDF text extraction may put spaces around Latin letters and digits; the Chinese text itself is whole.
        assert [c["text"].replace(" ", "") for c in drafted["clauses"]] == [
            (c.text or c.title).replace(" ", "") for c in programme.clauses
        ]
