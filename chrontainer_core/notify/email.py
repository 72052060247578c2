"""Email: one plain-text message over SMTP (STARTTLS, implicit TLS, or plain for local relays).

The standard library's ``smtplib`` is blocking, so one send runs in a worker thread
(``asyncio.to_thread``) under an overall timeout; the socket timeout bounds each step inside
it, so an abandoned thread ends on its own. The subject is the title; the body is the message,
then host, container and time lines. The result's status is the server's reply code to the
message data (or to the command that failed), its detail the server's text or the error.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Final

import aiohttp
import voluptuous as vol

from chrontainer_core.errors import InvalidInput

from .fields import EmailAddress, HostName, IntRange, Recipients, Text
from .models import EmailConfig, EmailSecurity, Notification, SendResult
from .render import context_lines, message_text, one_line

__all__ = ["DEFAULT_PORTS", "SCHEMA", "build_message", "send", "to_config"]

DEFAULT_PORTS: Final[dict[EmailSecurity, int]] = {
    EmailSecurity.STARTTLS: 587,
    EmailSecurity.TLS: 465,
    EmailSecurity.NONE: 25,
}
_REPLY_MAX: Final = 200

SCHEMA: Final[dict[Any, Any]] = {
    vol.Required("host"): HostName(),
    vol.Optional("port"): IntRange(1, 65535),
    vol.Optional("security", default=EmailSecurity.STARTTLS.value): vol.All(
        vol.In([s.value for s in EmailSecurity]), vol.Coerce(EmailSecurity)),
    vol.Required("sender"): EmailAddress(),
    vol.Required("recipients"): Recipients(),
    vol.Optional("username"): vol.Maybe(Text(256)),
    vol.Optional("password"): vol.Maybe(vol.All(str, vol.Length(max=1024))),
    vol.Optional("verify_tls", default=True): bool,
}


def to_config(values: Mapping[str, Any]) -> EmailConfig:
    """Build the configuration from validated values (secrets already merged).

    The port defaults by security (587, 465, 25).

    Raises:
        InvalidInput: A password on a connection without TLS, or one without a user name.
    """
    security = EmailSecurity(values["security"])
    username = values.get("username")
    password = values.get("password") or None
    if password and security is EmailSecurity.NONE:
        raise InvalidInput("config.password: a login needs security starttls or tls, so the "
                           "password never travels in clear", field="config.password")
    if password and not username:
        raise InvalidInput("config.username: required with a password",
                           field="config.username")
    port = values.get("port")
    return EmailConfig(
        host=values["host"],
        port=port if port is not None else DEFAULT_PORTS[security],
        security=security,
        sender=values["sender"],
        recipients=tuple(values["recipients"]),
        username=username,
        password=password,
        verify_tls=values["verify_tls"],
    )


def build_message(config: EmailConfig, n: Notification) -> EmailMessage:
    """The message the recipients get for ``n``."""
    msg = EmailMessage()
    msg["Subject"] = one_line(n.title)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.recipients)
    msg["Date"] = format_datetime(n.time)
    # make_msgid() without a domain looks up this machine's FQDN, which can block on DNS.
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    body = "\n".join([message_text(n), "", *context_lines(n)]) + "\n"
    # Quoted-printable for non-ASCII text (the default would be 8bit, which needs 8BITMIME,
    # and smtplib's data() does not ask for it).
    msg.set_content(body, cte=None if body.isascii() else "quoted-printable")
    return msg


def _tls_context(config: EmailConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not config.verify_tls:
        # Chosen by an admin for a relay with a self-signed certificate (off by default).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"{code} {' '.join(text.split())}"[:_REPLY_MAX]


def _connect(config: EmailConfig, timeout: float) -> smtplib.SMTP:
    # An explicit EHLO name: the default looks up this machine's FQDN, which can block on DNS.
    helo = socket.gethostname() or "chrontainer"
    if config.security is EmailSecurity.TLS:
        return smtplib.SMTP_SSL(config.host, config.port, local_hostname=helo, timeout=timeout,
                                context=_tls_context(config))
    smtp = smtplib.SMTP(config.host, config.port, local_hostname=helo, timeout=timeout)
    if config.security is EmailSecurity.STARTTLS:
        try:
            smtp.starttls(context=_tls_context(config))
        except BaseException:
            smtp.close()
            raise
    return smtp


def _transfer(smtp: smtplib.SMTP, config: EmailConfig, msg: EmailMessage) -> SendResult:
    """MAIL, RCPT and DATA one by one, to report the server's own reply to the data."""
    smtp.ehlo_or_helo_if_needed()
    code, text = smtp.mail(config.sender)
    if code != 250:
        smtp.rset()
        return SendResult(ok=False, status=code, detail=_reply(code, text))
    refused: list[str] = []
    last: tuple[int, bytes] = (code, text)
    for rcpt in config.recipients:
        rcode, rtext = smtp.rcpt(rcpt)
        if rcode not in (250, 251):
            refused.append(f"{rcpt} ({_reply(rcode, rtext)})")
            last = (rcode, rtext)
    if len(refused) == len(config.recipients):
        smtp.rset()
        return SendResult(ok=False, status=last[0],
                          detail=f"every recipient refused: {'; '.join(refused)}"[:_REPLY_MAX])
    code, text = smtp.data(msg.as_bytes())
    detail = _reply(code, text)
    if refused:
        detail = f"{detail}; refused: {'; '.join(refused)}"[:_REPLY_MAX]
    return SendResult(ok=code == 250, status=code, detail=detail)


def _send_blocking(config: EmailConfig, msg: EmailMessage, timeout: float) -> SendResult:
    try:
        with _connect(config, timeout) as smtp:
            if config.username:
                smtp.login(config.username, config.password or "")
            return _transfer(smtp, config, msg)
    except smtplib.SMTPResponseException as err:  # incl. authentication failures (535)
        return SendResult(ok=False, status=err.smtp_code,
                          detail=_reply(err.smtp_code, err.smtp_error))
    except smtplib.SMTPNotSupportedError as err:
        return SendResult(ok=False, detail=f"the server does not support it: {err}")
    except smtplib.SMTPServerDisconnected:
        return SendResult(ok=False, detail="the server closed the connection")
    except smtplib.SMTPException as err:
        return SendResult(ok=False, detail=f"SMTP error: {err}"[:_REPLY_MAX])
    except TimeoutError:
        return SendResult(ok=False, detail=f"timed out after {timeout:g} s")
    except ssl.SSLError as err:
        return SendResult(ok=False, detail=f"TLS error: {err.reason or err}")
    except ConnectionRefusedError:
        return SendResult(ok=False, detail="connection refused (nothing listens at that address)")
    except OSError as err:
        return SendResult(ok=False, detail=f"cannot connect: {err.strerror or err}")


async def send(config: EmailConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Mail ``n`` to the recipients; see the module docstring. ``http`` is not used."""
    del http  # every channel kind has the same signature; email needs no HTTP session
    msg = build_message(config, n)
    try:
        # smtplib blocks: one worker thread per send.
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(_send_blocking, config, msg, timeout)
    except TimeoutError:
        return SendResult(ok=False, detail=f"timed out after {timeout:g} s")
