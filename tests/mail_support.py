"""A real SMTP server for tests (aiosmtpd, in-process) and helpers to read what it received."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import ics
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar

from tests.test_calendar_engine import check_wire_format


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """The server's handler: keeps every accepted message; can refuse or slow down."""

    received: list[Received] = field(default_factory=list)
    # recipient -> SMTP reply to RCPT TO, e.g. "550 5.1.1 No such user"
    refuse: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, recipient: str) -> list[EmailMessage]:
        return [r.message for r in self.received if recipient in r.recipients]

    def count_by_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.received:
            for recipient in item.recipients:
                counts[recipient] = counts.get(recipient, 0) + 1
        return counts


@contextmanager
def smtp_server(port: int | None = None, inbox: Inbox | None = None,
                **controller_args: Any) -> Iterator[tuple[Inbox, int]]:
    inbox = inbox or Inbox()
    port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **controller_args)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_config(port: int, **extra: Any) -> dict[str, Any]:
    return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
            "MAIL_TIMEOUT": 5, "MAIL_FROM": "みどり市 国際交流課 <no-reply@city.example.lg.jp>",
            **extra}


# --- reading messages -------------------------------------------------------------------------


def parts(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.walk() if isinstance(part, EmailMessage)]


def part_of_type(message: EmailMessage, content_type: str) -> EmailMessage | None:
    return next((p for p in parts(message) if p.get_content_type() == content_type), None)


def calendar_part(message: EmailMessage) -> EmailMessage | None:
    return part_of_type(message, "text/calendar")


@dataclass(frozen=True)
class Invitation:
    method: str
    calendar: Calendar
    parsed: ics.Calendar
    raw: bytes

    @property
    def event(self) -> Any:
        (event,) = self.calendar.walk("VEVENT")
        return event


def invitation(message: EmailMessage) -> Invitation:
    """The text/calendar part, checked (wire format, both parsers) and matched with the
    application/ics attachment."""
    part = calendar_part(message)
    assert part is not None, "no text/calendar part"
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes)
    check_wire_format(raw)
    calendar = Calendar.from_ical(raw)
    method = str(calendar["METHOD"])
    assert part.get_param("method") == method
    assert (part.get_content_charset() or "").lower() == "utf-8"
    attachment = part_of_type(message, "application/ics")
    assert attachment is not None and attachment.get_payload(decode=True) == raw
    return Invitation(method, calendar, ics.Calendar(raw.decode("utf-8")), raw)


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run `target(i)` in `count` threads started together; their results, or re-raise."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with the openssl command (the tests' private CA)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def password_checker(username: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (username, password)
        return AuthResult(success=ok)

    return authenticate

