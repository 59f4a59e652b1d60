"""The e-mail notifier against a real SMTP server (aiosmtpd) with STARTTLS and AUTH: the test reads
the received message; failures are classified by their SMTP codes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from monitord.alerting.notify import EmailNotifier, NotifyStats, build, deliver
from monitord.config.alerting import EmailSettings, PersonRole, ReceiverSettings, SmtpSettings
from monitord.domain import Person
from tests.alerting.samples import T0, alerting, breach, notice
from tests.alerting.servers import SmtpServer, free_port

URL = "https://monitord.noc.example.com"


async def no_sleep(_seconds: float) -> None:
    return None


def mailer(smtp: SmtpSettings, *, to: tuple[str, ...] = ("noc-oncall@example.com",), lang: str = "zh-CN",
           person: PersonRole | None = None) -> EmailNotifier:
    receiver = ReceiverSettings("noc-oncall", (EmailSettings(to),), person=person, lang=lang)
    (built,) = build(receiver, alerting(receiver, smtp=smtp, external_url=URL))
    assert isinstance(built, EmailNotifier)
    return built


def test_chinese_mail_over_starttls_with_auth(tmp_path: Path) -> None:
    stats = NotifyStats()
    with SmtpServer(tmp_path) as server:
        outcome = asyncio.run(deliver(mailer(server.settings()), notice(), stats=stats))
        assert outcome.sent, outcome.error
        (mail,) = server.wait_for(1)
    assert mail.login == "monitord"
    assert mail.mail_from == "monitord@noc.example.com" and mail.rcpt_tos == ("noc-oncall@example.com",)
    subject = " ".join(str(mail.message["Subject"]).split())  # a folded header may unfold with two spaces
    for expected in ("GZ-SDH-000123", "广州某集团有限公司", "集团客户", "恢复时限已超 12 分钟"):
        assert expected in subject, (expected, subject)
    text = mail.text()
    for expected in ("电路：GZ-SDH-000123", "客户：广州某集团有限公司（集团客户）", "SLA 等级：AAA",
                     "恢复时限已超 12 分钟",
                     "时限：2026-10-08 14:00（北京时间）", "故障单：MON-1234，当前环节：已派单，待接单",
                     f"{URL}/api/v1/tickets?ticket=MON-1234"):
        assert expected in text, expected
    assert "恢复时限已超 12 分钟" in mail.html() and "<table" in mail.html()
    assert mail.message["Auto-Submitted"] == "auto-generated" and mail.message["X-Monitord-Notice"] == "notice-1"
    assert stats.snapshot() == {("noc-oncall", "email", "sent"): 1}


def test_resolve_mail_in_english_to_the_customers_person(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        n = mailer(server.settings(), to=(), lang="en", person=PersonRole.ACCOUNT_MANAGER)
        done = notice(breach(resolved_at=T0 + timedelta(minutes=20)), at=T0 + timedelta(minutes=21),
                      person=Person("李明", "li.ming@example.com"))
        assert asyncio.run(deliver(n, done)).sent
        (mail,) = server.wait_for(1)
    assert mail.rcpt_tos == ("li.ming@example.com",)
    assert "李明" in str(mail.message["To"])
    subject = " ".join(str(mail.message["Subject"]).split())
    assert subject.startswith("[RESOLVED] Restore limit breached: GZ-SDH-000123 | 广州某集团有限公司 (group)")
    assert "resolved 2026-10-08 14:20 after 20 min" in subject
    assert "Dear 李明," in mail.text()


def test_the_same_notice_has_the_same_message_id(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        n = mailer(server.settings())
        assert n.message(notice())["Message-ID"] == n.message(notice())["Message-ID"]
        assert n.message(notice())["Message-ID"] != n.message(notice(key="other"))["Message-ID"]


def test_person_without_an_address_is_not_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        n = mailer(server.settings(), to=(), person=PersonRole.CONTACT)
        outcome = asyncio.run(deliver(n, notice(person=Person("王五")), sleep=no_sleep))
        bad = asyncio.run(deliver(n, notice(person=Person("王五", "not an address")), sleep=no_sleep))
    assert not outcome.sent and not outcome.retryable and outcome.attempts == 1 and "no e-mail address" in outcome.error
    assert not bad.sent and not bad.retryable and "not an e-mail address" in bad.error


@pytest.mark.parametrize(("reply", "retryable"), [("450 4.2.1 mailbox busy", True),
                                                  ("550 5.1.1 no such user", False)])
def test_recipient_refusals_are_classified_by_code(tmp_path: Path, reply: str, retryable: bool) -> None:
    with SmtpServer(tmp_path) as server:
        server.reply["noc-oncall@example.com"] = reply
        outcome = asyncio.run(deliver(mailer(server.settings()), notice(), attempts=2, sleep=no_sleep))
    assert not outcome.sent and outcome.retryable is retryable
    assert outcome.attempts == (2 if retryable else 1)


def test_wrong_password_is_not_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        wrong = tmp_path / "wrong"
        wrong.write_text("nope", encoding="utf-8")
        outcome = asyncio.run(deliver(mailer(server.settings(password_file=wrong)), notice(), sleep=no_sleep))
    assert not outcome.sent and not outcome.retryable and "535" in outcome.error


def test_untrusted_certificate_is_not_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        outcome = asyncio.run(deliver(mailer(server.settings(ca_file=None)), notice(), sleep=no_sleep))
    assert not outcome.sent and not outcome.retryable, outcome


def test_closed_port_is_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        settings = dataclasses.replace(server.settings(), port=free_port(), timeout=timedelta(seconds=2))
        outcome = asyncio.run(deliver(mailer(settings), notice(), attempts=2, sleep=no_sleep))
    assert not outcome.sent and outcome.retryable and outcome.attempts == 2
