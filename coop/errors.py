"""The CoopError family: user mistakes carry a location and a plain message, never a bare traceback.

Every error a user can cause and fix, in one place. Messages are Chinese first (English may follow)
and name the file:line or the offending id. The tree::

    CoopError
    ├── AgreementError          an agreement file is invalid (every Problem, with file:line)
    ├── UnknownOccurrence       no occurrence with that id
    ├── InvalidTransition       the occurrence's status does not allow the change
    ├── Forbidden               wrong department or role
    ├── SchemaOutdated          the database schema is behind the code: run `coop db upgrade`
    ├── PlansFailed             some agreements of a batch could not be planned
    ├── ChannelNotConfigured    no URL for a notification channel name
    ├── ChannelInvalid          a channel name or its URL cannot be used
    ├── LinkError               a department link cannot be used (`status`: the HTTP answer)
    │   ├── LinkInvalid         404: not a link we issued
    │   ├── LinkExpired         410: past its expiry
    │   ├── LinkUsed            410: already acted on
    │   └── LinkWrongPurpose    403: issued for another purpose
    ├── EvidenceRefused         an upload is not accepted (`status`: the HTTP answer)
    │   ├── EvidenceTooLarge    413
    │   ├── EvidenceQuotaExceeded 413 (a department's uncited uploads over COOP_EVIDENCE_QUOTA_MB)
    │   ├── EvidenceTypeRefused 415
    │   └── EvidenceEmpty       422
    ├── UnknownEvidence         a file hash this department did not upload (or nobody did: one answer)
    ├── FormInvalid             a web form field typed wrongly; the form is shown again
    └── BackfillRefused         a backfill file with bad rows (every problem by row); nothing written
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class CoopError(Exception):
    """Base of every error a user can cause and fix."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an agreement file, located by file and line."""

    file: str
    line: int | None
    message: str
    column: int | None = None  # 1-based; shown by `coop check` as file:line:column, the one-line form keeps file:line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class AgreementError(CoopError):
    """An agreement file is invalid; lists every problem found, each with file:line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def __reduce__(self) -> tuple[type[AgreementError], tuple[list[Problem]]]:
        # Crosses from the planner's helper process pickled (`coop.services.staging`): rebuilt from its problems.
        return type(self), (self.problems,)


class UnknownOccurrence(CoopError):
    def __init__(self, occurrence_id: int):
        self.occurrence_id = occurrence_id
        super().__init__(f"找不到任务 #{occurrence_id} (unknown occurrence id {occurrence_id})")

    def __reduce__(self) -> tuple[type[UnknownOccurrence], tuple[int]]:
        return type(self), (self.occurrence_id,)


class InvalidTransition(CoopError):
    """A state change that the occurrence's current status does not allow."""


class Forbidden(CoopError):
    """The actor may not do this (wrong department or role)."""


class SchemaOutdated(CoopError):
    """The database schema is not the one this code expects; run `coop db upgrade` (or upgrade coop) first."""


class PlansFailed(CoopError):
    """Some agreements of a batch could not be planned; each failure is in the run's log and plan summary."""

    def __init__(self, failed: int, total: int):
        self.failed, self.total = failed, total
        super().__init__(
            f"{failed} 份协议计划失败（共 {total} 份），详见运行日志和计划汇总 (agreements failed to plan)"
        )


class ChannelNotConfigured(CoopError):
    """No URL is configured for a channel name; the message names the variable to set."""

    def __init__(self, name: str, env_var: str, block: str | None, example: str = "coop-wecom://KEY"):
        self.name, self.env_var, self.block = name, env_var, block
        where = f"环境变量 {env_var}" + (f" 或 Prefect Secret 块 {block}" if block else "")
        also = f" (or Prefect Secret block {block})" if block else ""
        super().__init__(
            f"通知渠道 {name!r} 未配置：请设置{where}，值为 apprise URL，例如 {example} "
            f"(channel {name!r} is not configured: set {env_var}{also} to an apprise URL)"
        )


class ChannelInvalid(CoopError):
    """A channel name or its configured URL cannot be used; secrets are redacted from the message."""


LINK_PURPOSE_LABELS = {"report": "报告一项任务的完成情况", "list": "查看本部门任务清单"}


class LinkError(CoopError):
    """A department link that cannot be used; `status` is the HTTP answer."""

    status = 403


class LinkInvalid(LinkError):
    status = 404

    def __init__(self) -> None:
        super().__init__("链接无效，请使用通知中的完整链接 (invalid link)")


class LinkExpired(LinkError):
    status = 410

    def __init__(self, expired_at: dt.datetime) -> None:
        local = expired_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
        super().__init__(f"链接已于 {local:%Y-%m-%d %H:%M} 过期，请联系协调人获取新链接 (link expired)")


class LinkUsed(LinkError):
    status = 410

    def __init__(self) -> None:
        super().__init__("此链接已使用过，不能重复提交；如需补充，请使用提交后页面上的新链接 (link already used)")


class FeedRevoked(LinkError):
    status = 410

    def __init__(self) -> None:
        super().__init__("此日历订阅链接已被撤销，请向协调人索取新链接 (calendar feed revoked)")


class LinkWrongPurpose(LinkError):
    status = 403

    def __init__(self, purpose: str) -> None:
        super().__init__(f"此链接只能用于“{LINK_PURPOSE_LABELS.get(purpose, purpose)}” (link is for another purpose)")


EVIDENCE_ALLOWED_KINDS = "PDF、JPEG、PNG、WebP、Word/Excel/PowerPoint（docx/xlsx/pptx）"


class EvidenceRefused(CoopError):
    """An upload that is not accepted; `status` is the HTTP answer."""

    status = 422


class EvidenceTooLarge(EvidenceRefused):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"文件超过 {limit // (1024 * 1024) or 1} MB 上限 (file larger than {limit} bytes)")


class EvidenceQuotaExceeded(EvidenceRefused):
    status = 413

    def __init__(self, quota_mb: int, ttl_hours: int) -> None:
        super().__init__(
            f"本部门尚未在报告中引用的上传文件已达 {quota_mb} MB 上限；请先在报告中引用已上传的文件，"
            f"未引用的文件 {ttl_hours} 小时后自动清理 (evidence upload quota exceeded)"
        )


class UnknownEvidence(CoopError):
    """A cited or requested file this department did not upload, or that does not exist: the same answer for both."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"找不到本部门上传的佐证文件 sha256:{sha256[:64]}，请先上传 (unknown evidence file)")


class EvidenceTypeRefused(EvidenceRefused):
    status = 415

    def __init__(self, filename: str) -> None:
        super().__init__(f"不支持的文件类型：{filename}；仅支持 {EVIDENCE_ALLOWED_KINDS} (unsupported file type)")


class EvidenceEmpty(EvidenceRefused):
    def __init__(self, filename: str) -> None:
        super().__init__(f"文件为空：{filename} (empty file)")


class FormInvalid(CoopError):
    """A form field a person typed wrongly; the form is shown again with their input kept."""


class BackfillRefused(CoopError):
    """A backfill file with bad rows; lists every problem by row number, and nothing was written."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        shown = problems[:50] + ([f"……另有 {len(problems) - 50} 处问题"] if len(problems) > 50 else [])
        super().__init__(
            f"{source}：补录未执行，没有写入任何记录（共 {len(problems)} 处问题）(backfill refused, nothing written)\n"
            + "\n".join(shown)
        )
