"""The e-mail notifier: one message per notice through the configured mail server (``alerting.smtp``).

Sent with aiosmtplib on the daemon's event loop: STARTTLS (required unless the
config says ``starttls: false``; port 465 is TLS from the first byte), AUTH
with the password read from ``password_file`` when the notifier is built.
The message has the subject, a plain-text part and an HTML part (escaped)
rendered in the receiver's language; ``Message-ID`` is derived from the
notice's key, so the same notice sent twice is recognisably the same, and
``Auto-Submitted: auto-generated`` keeps vacation responders quiet.

A receiver resolved per customer (``person:``) sends to the person's e-mail
from the inventory (``notice.person``). Failures: an SMTP 4xx, a refused
connection, a timeout or a dropped connection may be retried; an SMTP 5xx, a
refused login, a server without STARTTLS or a missing or bad address may not.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from monitord.alerting.notice import Notice
from monitord.alerting.notify.base import NotifierSetup, NotifyError
from monitord.config.alerting import EmailSettings, SmtpSettings

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _retryable_code(code: int) -> bool:
    return 400 <= code < 500


class EmailNotifier:
    """Sends each notice as one e-mail to fixed addresses or to the notice's person."""

    kind = "email"

    def __init__(self, settings: EmailSettings, setup: NotifierSetup) -> None:
        if setup.smtp is None:
            raise ValueError("an e-mail notifier needs alerting.smtp")  # checked at load time
        self.settings = settings
        self.setup = setup
        self.smtp: SmtpSettings = setup.smtp
        self.send_resolved = settings.send_resolved
        self.password = self.smtp.password_file.read_text(encoding="utf-8").strip() if self.smtp.password_file else ""
        self.tls = ssl.create_default_context(cafile=str(self.smtp.ca_file) if self.smtp.ca_file else None)

    def recipients(self, notice: Notice) -> list[Address]:
        """Whom ``notice`` goes to; ``NotifyError`` (not retryable) when there is no usable address."""
        if self.settings.to:
            return [Address(addr_spec=a) for a in self.settings.to]
        person = notice.person
        if person is None or not person.email:
            who = person.name if person else "nobody"
            raise NotifyError(f"receiver {notice.delivers}: {who} has no e-mail address in the inventory",
                              retryable=False)
        if not _ADDRESS.match(person.email):
            raise NotifyError(f'receiver {notice.delivers}: "{person.email}" of {person.name} is not an e-mail address',
                              retryable=False)
        try:
            return [Address(display_name=person.name, addr_spec=person.email)]
        except (ValueError, IndexError) as exc:  # the header parser's own objection
            raise NotifyError(f'"{person.email}" of {person.name}: {exc}', retryable=False) from exc

    def message(self, notice: Notice) -> EmailMessage:
        """The e-mail of ``notice``: subject, text and HTML parts in the receiver's language."""
        rendered = self.setup.messages.render(notice)
        msg = EmailMessage()
        msg["Subject"] = rendered.subject
        msg["From"] = self.smtp.sender
        msg["To"] = self.recipients(notice)
        msg["Date"] = format_datetime(notice.at)
        domain = self.smtp.sender.rpartition("@")[2]
        msg["Message-ID"] = f"<{hashlib.sha256(notice.key.encode()).hexdigest()[:32]}.monitord@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Monitord-Notice"] = notice.key
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg

    async def notify(self, notice: Notice) -> None:
        """Send the notice's e-mail; raises ``NotifyError`` saying whether a retry may help."""
        msg = self.message(notice)
        smtp = self.smtp
        try:
            errors, _ = await aiosmtplib.send(
                msg, hostname=smtp.host, port=smtp.port, use_tls=smtp.implicit_tls,
                start_tls=smtp.starttls and not smtp.implicit_tls, tls_context=self.tls,
                username=smtp.username or None, password=self.password or None,
                timeout=smtp.timeout.total_seconds())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise NotifyError(f"every recipient refused: {exc}", retryable=all(map(_retryable_code, codes))) from exc
        except aiosmtplib.SMTPResponseException as exc:  # sender refused, data refused, AUTH refused, ...
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc.code} {exc.message}",
                              retryable=_retryable_code(exc.code)) from exc
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected) as exc:
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=True) from exc
        except aiosmtplib.SMTPConnectError as exc:
            # A certificate the server cannot prove is a configuration problem; a refused connection is not.
            cert = isinstance(exc.__cause__, ssl.SSLCertVerificationError)
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=not cert) from exc
        except ssl.SSLCertVerificationError as exc:
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=False) from exc
        except aiosmtplib.SMTPException as exc:  # e.g. no STARTTLS or no AUTH offered: the server's setup
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=False) from exc
        except OSError as exc:
            raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {exc}", retryable=True) from exc
        if errors:  # some recipients took it: sending again would repeat it to them
            refused = ", ".join(f"{a} ({r.code})" for a, r in errors.items())
            log.warning("notice %s: refused by %s", notice.key, refused)
