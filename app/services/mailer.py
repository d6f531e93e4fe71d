"""Turning a queued message into MIME and handing it to a mail server.

MIME layout (what Google Calendar itself sends, and what Outlook and Gmail recognise)::

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8            the message as queued
        text/html; charset=utf-8             the same text, escaped, with its links
        text/calendar; charset=utf-8; method=REQUEST|CANCEL
      application/ics; name=invite.ics       the same invitation as an attachment

Outlook looks for iMIP data only in the first child of multipart/mixed and shows the
Accept/Decline bar from the text/calendar part; Gmail and Apple Mail build their
invitation card from it too; clients that ignore it (and people who forward the mail)
still have the attachment to open. Messages without an invitation are just the
multipart/alternative.

Text parts are UTF-8 with base64 or quoted-printable, never raw 8-bit (not every relay
speaks 8BITMIME); Japanese subjects and display names are RFC 2047 encoded-words.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import TracebackType
from typing import Any, Protocol

from flask import render_template

from app.models.enums import MessageKind
from app.orm import utcnow

# SMTP line endings, and nothing but 7-bit on the wire.
MAIL_POLICY = policy.SMTP.clone(cte_type="7bit")

_URL_LINE = re.compile(r"https?://\S+")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


@dataclass(frozen=True)
class Outgoing:
    """What a worker claimed: a snapshot of one outbox row, sent outside any transaction."""

    id: int
    kind: MessageKind
    recipient: str
    language: str
    subject: str
    body_text: str
    payload: dict[str, Any]
    created_at: datetime

    @property
    def calendar(self) -> dict[str, Any] | None:
        calendar = self.payload.get("calendar")
        return calendar if isinstance(calendar, dict) else None


class DeliveryError(Exception):
    """A message was not accepted.

    ``permanent``: the server refused this message for good (5xx for the recipient or the
    content); retrying cannot help. ``connection``: the server could not be reached or
    refused the session, so the rest of the batch need not be tried now.
    """

    def __init__(self, reason: str, *, permanent: bool = False, connection: bool = False):
        super().__init__(reason)
        self.permanent = permanent
        self.connection = connection


class Sender(Protocol):
    def send(self, outgoing: Outgoing) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- #
# MIME
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Line:
    text: str
    link: bool


def _paragraphs(body: str) -> list[list[_Line]]:
    """Blank-line separated paragraphs; a line that is only a URL becomes a link.

    Only whole-line URLs: those are the ones the templates write (manage page, join link).
    A URL someone typed into their name stays text, so nobody can plant a convincing link
    in a message sent from the municipality's domain.
    """
    paragraphs: list[list[_Line]] = []
    current: list[_Line] = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = []
            continue
        current.append(_Line(raw.rstrip(), bool(_URL_LINE.fullmatch(line))))
    if current:
        paragraphs.append(current)
    return paragraphs


def render_html(outgoing: Outgoing) -> str:
    """The HTML alternative: the plain text, escaped by Jinja, in the shared layout."""
    return render_template(
        "emails/_layout.html",
        subject=outgoing.subject,
        language=outgoing.language,
        paragraphs=_paragraphs(outgoing.body_text),
    )


def message_id(outgoing: Outgoing, domain: str) -> str:
    """The same Message-ID on every attempt: if a message ever goes out twice (a worker
    died after the server accepted it), receiving systems can recognise the duplicate."""
    return f"<tsudoi.outbox.{outgoing.id}.{int(outgoing.created_at.timestamp())}@{domain}>"


def build_email(outgoing: Outgoing, *, sender: str, now: datetime | None = None) -> EmailMessage:
    """Raises ValueError for a message that cannot be expressed (a broken address)."""
    display_name, address = parseaddr(sender)
    if "@" not in address:
        raise ValueError(f"MAIL_FROM has no usable address: {sender!r}")
    username, domain = address.rsplit("@", 1)
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = Address(display_name, username, domain)
    message["To"] = outgoing.recipient
    # An organiser's title with a line break must not become a header of its own (the
    # library would refuse it, and the message would never leave).
    message["Subject"] = _LINE_BREAKS.sub(" ", outgoing.subject)
    message["Date"] = format_datetime(now or utcnow())
    message["Message-ID"] = message_id(outgoing, domain)
    # RFC 3834: no out-of-office replies to a no-reply sender.
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = outgoing.language
    message.set_content(outgoing.body_text, charset="utf-8")
    message.add_alternative(render_html(outgoing), subtype="html", charset="utf-8")
    calendar = outgoing.calendar
    if calendar is not None:
        method = str(calendar["method"])
        ics = str(calendar["ics"])
        message.add_alternative(ics, subtype="calendar", charset="utf-8",
                                params={"method": method})
        message.add_attachment(
            ics.encode("utf-8"), maintype="application", subtype="ics",
            filename="cancel.ics" if method == "CANCEL" else "invite.ics",
        )
    return message


# --------------------------------------------------------------------------- #
# Senders
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    use_tls: bool  # STARTTLS
    use_ssl: bool  # implicit TLS
    username: str | None
    password: str | None
    timeout: float
    ca_file: str | None
    sender: str

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings:
        use_ssl, use_tls = bool(config["MAIL_USE_SSL"]), bool(config["MAIL_USE_TLS"])
        default_port = 465 if use_ssl else 587 if use_tls else 25
        return cls(
            host=str(config["MAIL_SERVER"]),
            port=int(config["MAIL_PORT"] or default_port),
            use_tls=use_tls,
            use_ssl=use_ssl,
            username=config.get("MAIL_USERNAME") or None,
            password=config.get("MAIL_PASSWORD") or None,
            timeout=float(config["MAIL_TIMEOUT"]),
            ca_file=config.get("MAIL_CA_FILE") or None,
            sender=str(config["MAIL_FROM"]),
        )


# Refusals that concern this message only; anything else is about the server or session.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


def _permanent(error: smtplib.SMTPException) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500


class SmtpSender:
    """Sends over one SMTP session per batch, opened on the first message."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = ssl.create_default_context(cafile=settings.ca_file)
        smtp: smtplib.SMTP
        if settings.use_ssl:
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            smtp.ehlo()
            if settings.use_tls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, outgoing: Outgoing) -> None:
        try:
            message = build_email(outgoing, sender=self.settings.sender)
        except ValueError as error:
            raise DeliveryError(f"cannot build the message: {error}", permanent=True) from error
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except _MESSAGE_ERRORS as error:
            raise DeliveryError(_describe(error), permanent=_permanent(error)) from error
        except (smtplib.SMTPException, OSError) as error:
            # OSError covers refused connections, timeouts, DNS and TLS failures.
            self._drop_connection()
            raise DeliveryError(_describe(error), connection=True) from error

    def _drop_connection(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        if self._smtp is None:
            return
        # Every message was already accepted or recorded as failed: a failing QUIT is moot.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self._smtp.quit()
        self._drop_connection()

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:1000]


class ConsoleSender:
    """Development: prints what would be sent, readable rather than as raw MIME."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def send(self, outgoing: Outgoing) -> None:
        calendar = outgoing.calendar
        attachment = ""
        if calendar is not None:
            attachment = (f"\n[calendar {calendar['method']} uid={calendar['uid']} "
                          f"sequence={calendar['sequence']}]")
        self.write(f"To: {outgoing.recipient}\nSubject: {outgoing.subject}\n\n"
                   f"{outgoing.body_text}{attachment}\n" + "-" * 60)

    def close(self) -> None:
        pass
