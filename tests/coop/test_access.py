"""Signed department links, API tokens and their store: tampering, expiry, purpose, replay, revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr
from sqlalchemy import select

from coop.access import (
    MIN_SHARED_TOKEN_LENGTH,
    FeedClaims,
    LinkClaims,
    LinkExpired,
    LinkInvalid,
    LinkSigner,
    LinkWrongPurpose,
    Role,
    check_coordinator_token,
    is_coordinator_token,
    link_for,
    list_url,
    new_token,
    report_url,
    secret_key,
    token_digest,
)
from coop.agreement.loader import load_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import CoopError, Forbidden, LinkUsed
from coop.planning import calendar_fingerprint, expand
from coop.settings import Settings
from coop.store.access import consume_link, issue_token, list_tokens, principal_for_token, revoke_token
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import ApiToken, Department, UsedLink

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
SIGNER = LinkSigner("unit-test-secret-0123456789abcdef")


def test_link_round_trip_carries_exactly_what_was_signed() -> None:
    token = SIGNER.issue("report", 7, 42, dt.timedelta(hours=2), NOW)
    claims = SIGNER.read(token, "report", NOW + dt.timedelta(hours=1))
    assert (claims.purpose, claims.department_id, claims.occurrence_id) == ("report", 7, 42)
    assert claims.expires_at == NOW + dt.timedelta(hours=2)
    other = SIGNER.read(SIGNER.issue("report", 7, 42, now=NOW), "report", NOW)
    assert other.nonce != claims.nonce  # every link is its own single use


def test_links_expire_at_their_time() -> None:
    token = SIGNER.issue("list", 7, ttl=dt.timedelta(hours=2), now=NOW)
    SIGNER.read(token, "list", NOW + dt.timedelta(hours=1, minutes=59))
    with pytest.raises(LinkExpired) as expired:
        SIGNER.read(token, "list", NOW + dt.timedelta(hours=2))
    assert expired.value.status == 410 and "过期" in str(expired.value)


def test_links_are_single_purpose() -> None:
    with pytest.raises(LinkWrongPurpose):
        SIGNER.read(SIGNER.issue("list", 7, now=NOW), "report", NOW)
    with pytest.raises(LinkWrongPurpose):
        SIGNER.read(SIGNER.issue("report", 7, 1, now=NOW), "list", NOW)
    with pytest.raises(ValueError):
        SIGNER.issue("report", 7, None)


def test_another_key_or_garbage_is_invalid() -> None:
    token = LinkSigner("some-other-secret-0123456789").issue("report", 7, 42, now=NOW)
    for bad in (token, "", "abc", "a.b", token.split(".")[0]):
        with pytest.raises(LinkInvalid):
            SIGNER.read(bad, "report", NOW)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0, max_value=200), replacement=st.sampled_from("AbZ09-_."))
def test_any_single_character_change_is_refused(position: int, replacement: str) -> None:
    token = SIGNER.issue("report", 7, 42, now=NOW)
    position %= len(token)
    changed = token[:position] + replacement + token[position + 1 :]
    if changed == token:
        return
    try:
        claims = SIGNER.read(changed, "report", NOW)
    except (LinkInvalid, LinkWrongPurpose, LinkExpired):
        return
    # base64 padding bits can absorb a change without altering the decoded bytes; the claims must be identical then.
    assert claims == SIGNER.read(token, "report", NOW)


def test_secret_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    settings_ = Settings(secret_key_file=tmp_path / "keys" / "secret")
    first, second = secret_key(settings_), secret_key(settings_)
    assert first == second and len(first) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "secret").st_mode) == 0o600
    assert secret_key(Settings(secret_key=SecretStr("x" * 20), secret_key_file=tmp_path / "unused")) == "x" * 20
    assert not (tmp_path / "unused").exists()
    with pytest.raises(CoopError):
        secret_key(Settings(secret_key=SecretStr("short")))


def test_urls_use_the_public_base_url_and_verify(tmp_path: Path) -> None:
    settings_ = Settings(secret_key=SecretStr("k" * 32), public_base_url="https://coop.example.cn/", link_ttl_hours=24)
    report, listing = report_url(settings_, 42, 7, NOW), list_url(settings_, 7, NOW)
    assert report.startswith("https://coop.example.cn/r/") and listing.startswith("https://coop.example.cn/d/")
    signer = LinkSigner("k" * 32)
    assert signer.read(report.rsplit("/", 1)[1], "report", NOW).occurrence_id == 42
    assert signer.read(listing.rsplit("/", 1)[1], "list", NOW + dt.timedelta(hours=23)).department_id == 7
    made = link_for(settings_)(42, 7)
    assert signer.read(made.rsplit("/", 1)[1], "report").department_id == 7


def test_coordinator_token_comparison() -> None:
    assert not is_coordinator_token("anything", Settings(coordinator_token=None))
    configured = Settings(coordinator_token=SecretStr("the-coordinator-secret"))
    assert is_coordinator_token("the-coordinator-secret", configured)
    assert not is_coordinator_token("the-coordinator-secreT", configured)
    assert not is_coordinator_token("", Settings(coordinator_token=SecretStr("")))


@pytest.fixture
def planned(db_url: str) -> str:
    cal = WorkdayCalendar()
    loaded = load_agreement(FIXTURES / "small.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, cal, 1000), dt.date(2026, 3, 1), "tester", calendar_fingerprint(cal))
    return db_url


def test_tokens_are_stored_hashed_resolve_to_their_department_and_revoke(planned: str) -> None:
    with session_scope(planned) as s:
        issued = issue_token(s, Role.department, "渝北区社工部", "渝北区/区委社会工作部")
        auditor = issue_token(s, Role.auditor, "审计 李四")
    with session_scope(planned) as s:
        rows = list_tokens(s)
        assert [r.token_hash for r in rows] == [token_digest(issued.token), token_digest(auditor.token)]
        assert all(issued.token not in (r.token_hash, r.label) for r in rows)
        principal = principal_for_token(s, issued.token)
        assert principal is not None and principal.role == Role.department
        assert principal.department_id == s.get(ApiToken, issued.id).department_id is not None  # type: ignore[union-attr]
        assert issued.department == "渝北区/区委社会工作部"
        assert principal.actor == f"渝北区社工部（令牌 #{issued.id}）"
        assert principal_for_token(s, auditor.token).role == Role.auditor  # type: ignore[union-attr]
        assert principal_for_token(s, issued.token + "x") is None
        revoke_token(s, issued.id)
    with session_scope(planned) as s:
        assert principal_for_token(s, issued.token) is None
        with pytest.raises(CoopError):
            revoke_token(s, 999)


def test_token_issue_refuses_nonsense(planned: str) -> None:
    with session_scope(planned) as s:
        with pytest.raises(CoopError):
            issue_token(s, Role.department, "x")
        with pytest.raises(CoopError):
            issue_token(s, Role.auditor, "x", "渝北区/区委社会工作部")
        with pytest.raises(CoopError):
            issue_token(s, Role.coordinator, "x")
        with pytest.raises(Forbidden):
            issue_token(s, Role.department, "x", "渝中区/不存在")


def test_a_link_is_consumed_once(planned: str) -> None:
    with session_scope(planned) as s:
        dept_id = s.execute(select(Department.id)).scalars().first()
    assert dept_id is not None
    claims = LinkClaims("list", dept_id, None, "abcdef0123456789", NOW + dt.timedelta(days=1))
    with session_scope(planned) as s:
        consume_link(s, claims)
    with pytest.raises(LinkUsed), session_scope(planned) as s:
        consume_link(s, claims)
    with session_scope(planned) as s:
        assert len(s.execute(select(UsedLink)).all()) == 1


# -- mutation-testing survivors (tests/MUTATION.md) -----------------------------------

LOCAL = "http://127.0.0.1:8000/tongX/"  # a trailing slash, and a last path letter a wrong strip would eat


def test_coordinator_token_length_is_checked_at_start_up() -> None:
    check_coordinator_token(Settings())  # unset: nothing to check
    check_coordinator_token(Settings(coordinator_token=SecretStr("b" * MIN_SHARED_TOKEN_LENGTH)))
    with pytest.raises(CoopError) as exc:
        check_coordinator_token(Settings(coordinator_token=SecretStr("b" * (MIN_SHARED_TOKEN_LENGTH - 1))))
    assert str(exc.value) == (
        f"COOP_COORDINATOR_TOKEN 太短，至少 {MIN_SHARED_TOKEN_LENGTH} 个字符；它只用于签发第一个具名协调人令牌 "
        f"(COOP_COORDINATOR_TOKEN must be at least {MIN_SHARED_TOKEN_LENGTH} characters)"
    )
    exact = "c" * MIN_SHARED_TOKEN_LENGTH
    assert is_coordinator_token(exact, Settings(coordinator_token=SecretStr(exact)))


def test_feed_tokens_round_trip_and_are_not_links() -> None:
    token = SIGNER.issue_feed("department:3", 2)
    assert SIGNER.read_feed(token) == FeedClaims("department:3", 2)
    for other in (SIGNER.issue("list", 3, now=NOW), LinkSigner("another-secret-0123456789").issue_feed("x", 1), "x"):
        with pytest.raises(LinkInvalid):
            SIGNER.read_feed(other)
    with pytest.raises(LinkInvalid):
        SIGNER.read(token, "list", NOW)


def test_links_are_hmac_sha256_under_their_salt_so_issued_links_stay_valid() -> None:
    secret = "unit-test-secret-0123456789abcdef"
    reference = URLSafeSerializer(secret, salt="coop.link.v1", signer_kwargs={"digest_method": hashlib.sha256})
    raw = reference.loads(LinkSigner(secret).issue("report", 7, 42, dt.timedelta(hours=2), NOW))
    assert (raw["p"], raw["d"], raw["o"], raw["e"], len(raw["n"])) == ("r", 7, 42, int(NOW.timestamp()) + 7200, 16)
    with pytest.raises(ValueError) as exc:
        SIGNER.issue("report", 7)
    assert str(exc.value) == "a report link names exactly one occurrence"


@settings(max_examples=300, deadline=None)
@given(
    claims=st.dictionaries(
        st.sampled_from(["p", "d", "o", "n", "e", "s", "v"]),
        st.one_of(st.integers(-(2**63), 2**63), st.text(max_size=40), st.sampled_from(["1" * 40, "aaaa" * 20])),
        min_size=1,
    )
)
def test_tokens_are_byte_for_byte_what_itsdangerous_writes(claims: dict[str, object]) -> None:
    """Issue 16: the HMAC is keyed once per signer instead of per token; the format must not move (compressible
    payloads, which itsdangerous zlib-compresses, and non-ASCII text included)."""
    secret = "unit-test-secret-0123456789abcdef"
    reference = URLSafeSerializer(secret, salt="coop.link.v1", signer_kwargs={"digest_method": hashlib.sha256})
    assert LinkSigner(secret)._token(claims) == reference.dumps(claims)


def test_links_issued_before_the_keyed_signer_still_verify_and_new_ones_verify_there() -> None:
    secret = "unit-test-secret-0123456789abcdef"
    reference = URLSafeSerializer(secret, salt="coop.link.v1", signer_kwargs={"digest_method": hashlib.sha256})
    expires = int((NOW + dt.timedelta(hours=2)).timestamp())
    old = reference.dumps({"p": "r", "d": 7, "n": "0123456789abcdef", "e": expires, "o": 42})
    claims = LinkSigner(secret).read(old, "report", NOW)
    assert (claims.department_id, claims.occurrence_id, claims.nonce) == (7, 42, "0123456789abcdef")
    assert reference.loads(LinkSigner(secret).issue("list", 9, now=NOW))["d"] == 9
    compressible = {"p": "i", "s": "department:" + "1" * 80, "v": 1}
    assert reference.dumps(compressible).startswith(".")  # the zlib branch is exercised
    assert LinkSigner(secret).read_feed(reference.dumps(compressible)) == FeedClaims("department:" + "1" * 80, 1)
    assert LinkSigner(secret).issue_feed("department:" + "1" * 80, 1) == reference.dumps(compressible)


def test_wrong_purpose_names_the_purpose_the_link_has() -> None:
    with pytest.raises(LinkWrongPurpose) as exc:
        SIGNER.read(SIGNER.issue("list", 7, now=NOW), "report", NOW)
    assert "查看本部门任务清单" in str(exc.value)


def test_urls_strip_one_trailing_slash_and_honour_now_and_the_ttl(tmp_path: Path) -> None:
    conf = Settings(public_base_url=LOCAL, link_ttl_hours=1, secret_key_file=tmp_path / "s")
    key = LinkSigner(secret_key(conf))
    issued = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    report, listing = report_url(conf, 42, 7, now=issued), list_url(conf, 7, now=issued)
    assert report.startswith("http://127.0.0.1:8000/tongX/r/") and listing.startswith("http://127.0.0.1:8000/tongX/d/")
    assert key.read(report.rsplit("/", 1)[1], "report", issued).expires_at == issued + dt.timedelta(hours=1)
    assert key.read(listing.rsplit("/", 1)[1], "list", issued).expires_at == issued + dt.timedelta(hours=1)
    made = link_for(conf)(42, 7)
    assert made.startswith("http://127.0.0.1:8000/tongX/r/")
    expires = key.read(made.rsplit("/", 1)[1], "report").expires_at
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 3600) < 60


def test_secret_keys_long_enough_or_generated_in_a_new_directory(tmp_path: Path) -> None:
    assert secret_key(Settings(secret_key=SecretStr("k" * 16))) == "k" * 16
    with pytest.raises(CoopError) as exc:
        secret_key(Settings(secret_key=SecretStr("k" * 15)))
    assert str(exc.value) == "COOP_SECRET_KEY 太短，至少 16 个字符 (COOP_SECRET_KEY must be at least 16 characters)"
    made = secret_key(Settings(secret_key_file=tmp_path / "a" / "b" / "secret"))
    assert len(made) == 64  # 48 random bytes, URL-safe base64
    assert len(new_token()) == len("coop_") + 43  # 32 random bytes
