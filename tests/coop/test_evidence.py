"""Evidence staging: type sniffing from content, size limit while streaming, content-addressed placement."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from coop import evidence as files

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 50
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("报告.pdf", PDF, "application/pdf"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("photo.webp", WEBP, "image/webp"),
        ("纪要.docx", docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("renamed.png", PDF, "application/pdf"),  # the content decides, not the name
    ],
)
def test_allowed_files_are_staged_with_their_hash(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    staged = files.stage(io.BytesIO(content), name, tmp_path, 1024 * 1024)
    assert staged.content_type == expected and staged.size == len(content)
    assert staged.sha256 == hashlib.sha256(content).hexdigest() and staged.ref == f"sha256:{staged.sha256}"
    assert staged.temp_path.read_bytes() == content
    assert files.place(staged, tmp_path) is True
    target = files.path_for(tmp_path, staged.sha256)
    assert target.read_bytes() == content and target.parent.parent.name == staged.sha256[:2]
    again = files.stage(io.BytesIO(content), name, tmp_path, 1024 * 1024)
    assert files.place(again, tmp_path) is False and not again.temp_path.exists()


@pytest.mark.parametrize(
    "name, content, error",
    [
        ("a.exe", b"MZ\x90\x00" + b"\x00" * 20, files.EvidenceTypeRefused),
        ("a.html", b"<html><script>alert(1)</script>", files.EvidenceTypeRefused),
        ("a.zip", docx_bytes(), files.EvidenceTypeRefused),  # a zip is only accepted as an Office document
        ("fake.xlsx", b"PK\x03\x04 not really a zip", files.EvidenceTypeRefused),
        ("empty.pdf", b"", files.EvidenceEmpty),
        ("big.pdf", PDF + b"0" * 5000, files.EvidenceTooLarge),
    ],
)
def test_refused_files_leave_nothing_behind(tmp_path: Path, name: str, content: bytes, error: type) -> None:
    with pytest.raises(error):
        files.stage(io.BytesIO(content), name, tmp_path, 4096)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_size_limit_stops_reading_early(tmp_path: Path) -> None:
    class Endless(io.RawIOBase):
        def __init__(self) -> None:
            self.read_bytes = 0

        def read(self, size: int = -1) -> bytes:
            self.read_bytes += size
            return b"%PDF" + b"0" * (size - 4)

    stream = Endless()
    with pytest.raises(files.EvidenceTooLarge):
        files.stage(stream, "endless.pdf", tmp_path, 1024 * 1024)  # type: ignore[arg-type]
    assert stream.read_bytes <= 1024 * 1024 + files.CHUNK


def test_filenames_are_only_labels() -> None:
    assert files.clean_filename("../../etc/passwd") == "passwd"
    assert files.clean_filename("C:\\Users\\x\\签到表.pdf") == "签到表.pdf"
    assert files.clean_filename("\x00\x1b[31m") == "[31m"
    assert files.clean_filename("") == "upload" and files.clean_filename(None) == "upload"
    assert len(files.clean_filename("a" * 1000)) == 255
    with pytest.raises(ValueError):
        files.path_for(Path("/x"), "../../etc")
