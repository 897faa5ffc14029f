"""E-mail over STARTTLS through apprise with the TLS context built once (coop/notify/channels/email.py): apprise
builds a default context for every e-mail (~20 ms of CPU: the CA certificates); coop hands it one built once per
setting. Verification must still hold — a `verify=no` mailbox must not weaken another's — against a real local
SMTP server (aiosmtpd) offering STARTTLS with a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path

import apprise.plugins.email.smtp as apprise_smtp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from peers.smtp_sink import _EphemeralController, _Inbox

from coop.notify.channels import deliver
from coop.notify.channels.email import shared_tls_context


def _self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    controller = _EphemeralController(
        inbox, hostname="127.0.0.1", port=0, tls_context=_self_signed(tmp_path), require_starttls=True
    )
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _url(port: int, verify: bool) -> str:
    mailbox = f"mailto://127.0.0.1:{port}?from=coop@example.cn&to=dept@example.cn&mode=starttls"
    return f"{mailbox}&verify={'yes' if verify else 'no'}"


def test_starttls_mail_goes_and_verification_still_holds_for_every_mailbox(tls_sink: tuple[_Inbox, int]) -> None:
    inbox, port = tls_sink
    # Unverified first: its settings must not leak into the verified mailbox's sends after it.
    assert deliver(_url(port, verify=False), "【协作通】提醒", "- 第2.1条 联合招商推介会").ok
    refused = deliver(_url(port, verify=True), "【协作通】提醒", "- 第2.1条 联合招商推介会")
    assert not refused.ok  # the self-signed certificate is not trusted
    assert deliver(_url(port, verify=False), "【协作通】第二封", "正文").ok
    assert [m.message["Subject"] for m in inbox.mails] == ["【协作通】提醒", "【协作通】第二封"]
    # One context per setting, each still as strict as its setting says.
    strict = shared_tls_context(True, ssl.CERT_REQUIRED)
    assert strict.check_hostname and strict.verify_mode == ssl.CERT_REQUIRED
    assert shared_tls_context(True, ssl.CERT_REQUIRED) is strict
    loose = shared_tls_context(False, ssl.CERT_NONE)
    assert loose is not strict and not loose.check_hostname and loose.verify_mode == ssl.CERT_NONE


def test_apprise_gets_a_fresh_choice_each_time_and_nothing_else_can_be_set() -> None:
    first, second = apprise_smtp.ssl.create_default_context(), apprise_smtp.ssl.create_default_context()
    first.check_hostname, first.verify_mode = False, ssl.CERT_NONE
    assert (second.check_hostname, second.verify_mode) == (True, ssl.CERT_REQUIRED)
    assert apprise_smtp.ssl.CERT_NONE == ssl.CERT_NONE  # the rest of `ssl` as it is
    with pytest.raises(AttributeError):
        first.minimum_version = ssl.TLSVersion.TLSv1_3  # a setting the shared contexts would not carry
