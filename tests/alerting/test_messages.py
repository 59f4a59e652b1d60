"""Messages: what an on-call engineer reads, in Chinese (the default) and English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitord.alerting.messages import DETAILS, Messages, Span, build_links
from monitord.alerting.notice import NoticeAlert, NoticeState
from monitord.domain import Person
from tests.alerting.samples import T0, breach, notice

URL = "https://monitord.noc.example.com"


def test_chinese_breach_says_circuit_customer_lateness_deadline_ticket_and_links() -> None:
    m = Messages("zh-CN", URL).render(notice())
    assert m.subject == "【告警】恢复超时：GZ-SDH-000123｜广州某集团有限公司（集团客户）｜AAA 级｜恢复时限已超 12 分钟"
    for expected in ("电路：GZ-SDH-000123（sdh，广州天河 — 深圳南山）",
                     "客户：广州某集团有限公司（集团客户），客户经理 李明", "SLA 等级：AAA",
                     "情况：恢复时限已超 12 分钟", "时限：2026-10-08 14:00（北京时间）",
                     "故障单：MON-1234，当前环节：已派单，待接单",
                     f"电路：{URL}/api/v1/circuits?circuit=GZ-SDH-000123",
                     f"故障单：{URL}/api/v1/tickets?ticket=MON-1234"):
        assert expected in m.text, expected
    assert m.summaries == ("恢复超时：GZ-SDH-000123｜广州某集团有限公司（集团客户）｜AAA 级｜恢复时限已超 12 分钟",)


def test_english_breach() -> None:
    m = Messages("en", URL).render(notice())
    assert m.subject.startswith("[FIRING] Restore limit breached: GZ-SDH-000123 | 广州某集团有限公司 (group) | SLA AAA")
    assert "restore limit passed 12 min ago" in m.subject
    for expected in ("Deadline: 2026-10-08 14:00 (UTC+08:00)",
                     "Ticket: MON-1234, stage: dispatched, awaiting acceptance",
                     "Status: restore limit passed 12 min ago"):
        assert expected in m.text, expected


def test_warning_says_how_much_is_left_and_escalation_names_the_step() -> None:
    warning = NoticeAlert("RestoreWarning", {"circuit": "C1", "percent": "80", "ticket": "T1"}, NoticeState.FIRING, T0,
                          details={"deadline": (T0 + timedelta(hours=1, minutes=5)).isoformat()})
    escalation = NoticeAlert("RestoreEscalation", {"circuit": "C1", "step": "department_head", "ticket": "T1"},
                             NoticeState.FIRING, T0, details={"deadline": (T0 - timedelta(hours=1)).isoformat()})
    zh = Messages("zh-CN").render(notice(warning, escalation, at=T0))
    assert zh.summaries[0].endswith("恢复时限已用 80%，还剩 1 小时 5 分钟")
    assert zh.summaries[1].endswith("恢复时限已超 1 小时，已升级至部门负责人")
    en = Messages("en").render(notice(warning, escalation, at=T0))
    assert en.summaries[0].endswith("80% of the restore limit used, 1 h 5 min left")
    assert en.summaries[1].endswith("restore limit passed 1 h ago, escalated to department head")


def test_resolved_notice_says_what_resolved_and_when() -> None:
    done = breach(resolved_at=T0 + timedelta(minutes=40))
    zh = Messages("zh-CN").render(notice(done, at=T0 + timedelta(minutes=41)))
    assert zh.subject.startswith("【已解除】")
    assert "已解除：恢复超时（RestoreBreached），2026-10-08 14:40 解除，历时 40 分钟" in zh.text
    en = Messages("en").render(notice(done, at=T0 + timedelta(minutes=41)))
    assert en.subject.startswith("[RESOLVED] ") and "resolved 2026-10-08 14:40 after 40 min" in en.subject


def test_mixed_notice_counts_firing_and_resolved() -> None:
    m = Messages("zh-CN").render(notice(breach(), breach(circuit="GZ-SDH-000124", resolved_at=T0), breach(
        circuit="GZ-SDH-000125")))
    assert "等 2 条（另 1 条已解除）" in m.subject
    assert "2 条告警正在触发，1 条已解除" in m.text


def test_html_escapes_what_others_write_and_text_keeps_it() -> None:
    alert = NoticeAlert("CircuitDown", {"circuit": "C<1>"}, NoticeState.FIRING, T0,
                        details={"customer_name": "<script>x</script>"})
    m = Messages("zh-CN").render(notice(alert, person=Person("王<五>")))
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html and "王&lt;五&gt;" in m.html
    assert "<script>x</script>" in m.text


def test_missing_details_leave_lines_out() -> None:
    bare = NoticeAlert("CircuitDown", {"circuit": "C1", "customer": "CUST-1"}, NoticeState.FIRING, T0)
    m = Messages("zh-CN").render(notice(bare, at=T0 + timedelta(minutes=3)))
    assert m.summaries == ("电路中断：C1｜CUST-1｜已持续 3 分钟",)
    assert "时限" not in m.text and "故障单" not in m.text


def test_links_need_their_labels_and_quote_values() -> None:
    links = {"circuit": "/c/{circuit}", "ticket": "/t/{ticket}", "grafana": "https://g.example.com/d?c={circuit}"}
    assert build_links({"circuit": "A B/1"}, URL, links) == {
        "circuit": f"{URL}/c/A%20B%2F1", "grafana": "https://g.example.com/d?c=A%20B%2F1"}
    assert build_links({"circuit": "C1"}, "", links) == {"grafana": "https://g.example.com/d?c=C1"}


def test_spans_and_languages() -> None:
    assert Span.of(timedelta(days=1, hours=2, minutes=3, seconds=59)) == Span(1, 2, 3)
    assert Span.of(timedelta(seconds=-5)).total_minutes == 0
    assert "under 1 min" in Messages("en").render(notice(at=T0 + timedelta(seconds=20))).subject
    with pytest.raises(ValueError, match="fr"):
        Messages("fr")
    assert "deadline" in DETAILS and "ticket_stage" in DETAILS


def test_a_proactive_notice_reads_as_a_notice_to_the_customer() -> None:
    proactive = NoticeAlert("ProactiveNotice", {"circuit": "GZ-SDH-000123", "customer": "C1", "severity": "info",
                                                "ticket": "MON-7"}, NoticeState.FIRING, T0)
    zh = Messages("zh-CN").render(notice(proactive, at=T0))
    assert zh.subject.startswith("【通知】电路故障主动告知：GZ-SDH-000123")
    assert zh.subject.endswith("网管监控发现电路中断，已立故障单 MON-7，正在处理")
    assert "ProactiveNotice（ProactiveNotice） · 通知" not in zh.text and "· 通知" in zh.text
    en = Messages("en").render(notice(proactive, at=T0))
    assert en.subject.startswith("[NOTICE] Circuit fault notice: GZ-SDH-000123")


def test_a_device_alert_names_its_device() -> None:
    unreachable = NoticeAlert("DeviceUnreachable", {"device": "10.1.1.1:161", "severity": "major"},
                              NoticeState.FIRING, T0)
    zh = Messages("zh-CN").render(notice(unreachable, at=T0 + timedelta(minutes=3)))
    assert zh.subject.startswith("【告警】设备不可达：设备 10.1.1.1:161｜")
    assert "设备：10.1.1.1:161" in zh.text
    en = Messages("en").render(notice(unreachable, at=T0 + timedelta(minutes=3)))
    assert en.subject.startswith("[FIRING] Device unreachable: device 10.1.1.1:161 |")
    assert "Device: 10.1.1.1:161" in en.text
