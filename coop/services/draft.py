"""Draft an agreement file from a signed Word or PDF document (`coop draft`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from coop.agreement.draft import draft_yaml
from coop.errors import AgreementError, Problem

# Text extraction puts a space wherever glyphs of two fonts meet (“ 两企三新 ”, 2024 年); Chinese has none.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef“”‘’"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])[ \t]+|[ \t]+(?=[{_CJK}])")


def draft_agreement(document: Path, target: Path, agreement_id: str | None = None, overwrite: bool = False) -> str:
    """Write the YAML draft of `document` (.docx, or .pdf with a text layer) to `target`; return its text."""
    if target.exists() and not overwrite:
        raise AgreementError([Problem(str(target), None, "文件已存在；要覆盖请加 --force (file exists)")])
    text = draft_yaml(document_paragraphs(document), agreement_id, source=document.name)
    target.write_text(text, encoding="utf-8")
    return text


def document_paragraphs(document: Path) -> list[str]:
    """The document's paragraphs in reading order (tables included: signature blocks are often laid out in one)."""
    name = str(document)
    if not document.is_file():
        raise AgreementError([Problem(name, None, "找不到文件 (no such file)")])
    suffix = document.suffix.lower()
    if suffix == ".docx":
        paragraphs = list(_docx_paragraphs(document))
    elif suffix == ".pdf":
        paragraphs = _pdf_lines(document)
    else:
        raise AgreementError(
            [Problem(name, None, f"只能读取 .docx 或带文字层的 .pdf；.doc 请先另存为 .docx (unsupported: {suffix})")]
        )
    if not any(p.strip() for p in paragraphs):
        raise AgreementError([Problem(name, None, "文档中没有可读取的文字（扫描件须先做文字识别）(no text layer)")])
    return paragraphs


def _docx_paragraphs(document: Path) -> Iterator[str]:
    # python-docx is imported here only: `coop draft` is its one user, and it pulls in lxml for every other command.
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        doc = docx.Document(str(document))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise AgreementError(
            [Problem(str(document), None, f"不是有效的 Word (.docx) 文件 (not a .docx: {exc})")]
        ) from None
    for block in doc.iter_inner_content():
        if isinstance(block, Table):
            seen: set[int] = set()
            for row in block.rows:
                for cell in row.cells:
                    if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                        continue
                    seen.add(id(cell._tc))
                    yield from (p.text for p in cell.paragraphs)
        else:
            yield block.text


def _pdf_lines(document: Path) -> list[str]:
    # pypdf is imported here only, like python-docx: one command uses it.
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(document))
        return [_CJK_SPACE.sub("", line) for page in reader.pages for line in (page.extract_text() or "").splitlines()]
    except (PdfReadError, ValueError, OSError) as exc:
        raise AgreementError([Problem(str(document), None, f"无法读取 PDF (cannot read the PDF: {exc})")]) from None
