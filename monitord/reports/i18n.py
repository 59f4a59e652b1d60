"""Words and number formats of the reports in Chinese (zh-CN, the operator's default) and English.

``Text`` is what a template and the text renderer see: a label lookup plus the
formatters for percentages, durations, limits and instants in the report's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitord.yamldoc import Limit, WorkingDays

LANGUAGES = ("zh-CN", "en")
"""The languages a report can be written in; the first is the default."""

_ZH: dict[str, str] = {
    "monthly_title": "SLA 电路月度运行报告",
    "fault_title": "故障报告",
    "customer": "客户",
    "customer_id": "客户编号",
    "level": "客户级别",
    "account_manager": "客户经理",
    "contact": "客户联系人",
    "month": "报告月份",
    "period": "统计周期",
    "as_of": "数据截至",
    "in_progress": "本月尚未结束：数据为月初至截至时间的累计，可用率按整月时长计算。",
    "outage_basis": "中断时长来源",
    "basis.tickets": "故障单（申告至恢复，扣除挂起时间）",
    "basis.monitoring": "网管监控（监测到中断至恢复）",
    "basis.both": "故障单与网管监控的并集",
    "summary": "概览",
    "circuits": "电路数",
    "circuits_met": "可用率达标电路",
    "faults": "本月故障",
    "missed_restorations": "修复超时",
    "repeat_faults": "重复故障",
    "chart_title": "各电路可用率与目标",
    "chart_legend_met": "达标",
    "chart_legend_missed": "未达标",
    "chart_legend_target": "目标",
    "chart_partial": "仅显示余量最小的 {shown} 条电路（共 {total} 条），全部电路见下表。",
    "circuit_table": "电路可用率",
    "circuit": "电路编号",
    "service": "业务类型",
    "sla_class": "SLA 等级",
    "tier": "服务类别",
    "ends": "A 端 — Z 端",
    "target": "可用率目标",
    "availability": "实际可用率",
    "downtime": "中断时长",
    "budget": "中断时长预算",
    "budget_left": "剩余预算",
    "met": "达标",
    "yes": "是",
    "no": "否",
    "maintenance": "已通告维护（不计入中断）",
    "fault_table": "故障明细",
    "ticket": "故障单号",
    "source": "申告来源",
    "reported": "申告时间",
    "restored": "恢复时间",
    "restoration_time": "修复历时（扣除挂起）",
    "restore_limit": "修复时限",
    "result": "结果",
    "outage_in_month": "本月计入中断",
    "held": "挂起时长",
    "repeat_of": "重复故障（前次单号）",
    "carried_over": "上月延续",
    "customer_caused": "客户原因（不计入可用率）",
    "not_restored": "尚未恢复",
    "no_faults": "本月无故障。",
    "process_table": "流程时限达标情况",
    "kind": "时限",
    "limit": "时限要求",
    "met_count": "达标",
    "breached_count": "超时",
    "pending_count": "未到期",
    "share": "达标率",
    "repeat_table": "重复故障",
    "repeat_rule": "{cls} 级：{months} 个月内不超过 1 次",
    "no_repeats": "本月无重复故障。",
    "compensation_table": "赔偿（按合同）",
    "compensation_example": "示例赔偿表：比例以客户合同为准，非合同数值。",
    "tier_reached": "可用率档位",
    "availability_credit": "可用率赔偿",
    "restoration_credit": "修复超时赔偿",
    "credit_total": "合计（占月租费）",
    "capped": "已达上限",
    "no_credit_table": "无赔偿表",
    "negotiable": "协商赔偿",
    "no_compensation": "不赔偿",
    "below": "低于",
    "definitions": "说明：可用率 = 1 − 中断时长 ÷ 当月总时长；中断时长为各次中断的并集，"
                   "扣除已通告维护与客户原因故障。中断预算 = (1 − 目标) × 当月总时长。",
    "generated_by": "由 monitord 生成",
    "timeline": "处理过程",
    "step": "环节",
    "time": "时间",
    "limits": "各环节时限",
    "start": "起算",
    "due": "到期",
    "done": "完成",
    "elapsed": "用时",
    "state": "状态",
    "fault_report": "故障报告",
    "report_due": "故障报告应于",
    "report_sent": "故障报告已发送",
    "report_not_sent": "故障报告尚未发送",
    "report_waits": "故障报告时限自恢复起算：恢复后 {limit} 内",
    "report_none": "该等级不承诺故障报告",
    "on_hold": "挂起中（时限暂停）",
    "step.reported": "申告",
    "step.clock_start": "监控首次发现中断",
    "step.dispatched": "派单",
    "step.accepted": "接单",
    "step.paused": "挂起（客户原因）",
    "step.resumed": "恢复处理",
    "step.restored": "业务恢复",
    "step.confirmed": "修复确认",
    "step.report_sent": "故障报告发送",
    "step.closed": "结单",
    "kind.dispatch": "派单",
    "kind.accept": "接单",
    "kind.restore": "修复",
    "kind.confirm": "修复确认",
    "kind.report": "故障报告",
    "state.met": "达标",
    "state.breached": "超时",
    "state.pending": "未到期",
    "source.customer": "客户申告",
    "source.account_manager": "客户经理代报",
    "source.monitoring": "网管主动发现",
    "tier.commitment": "SLA 承诺服务",
    "tier.maintenance": "维护质量保障",
    "tier.quality": "质量等级承诺",
    "level.group": "集团客户",
    "level.provincial": "省级客户",
    "level.local_a": "本地 A 类",
    "level.local_b": "本地 B 类",
    "level.local_c": "本地 C 类",
    "service.sdh": "SDH 数字电路",
    "service.mpls_vpn": "MPLS-VPN",
    "service.ethernet": "以太网专线",
    "service.internet": "互联网专线",
    "service.leased_fibre": "光纤出租",
    "service.ddn": "DDN",
    "service.frame_relay": "帧中继",
    "service.atm": "ATM",
    "service.satellite": "卫星电路",
    "service.fixed_voice": "固话类业务",
    "service.number_4008": "4008 号码",
    "service.ict": "ICT 业务",
    "vpn": "VPN",
    "h": "小时",
    "min": "分",
    "s": "秒",
    "wd": "个工作日",
}

_EN: dict[str, str] = {
    "monthly_title": "Monthly SLA circuit report",
    "fault_title": "Fault report",
    "customer": "Customer",
    "customer_id": "Customer ID",
    "level": "Customer level",
    "account_manager": "Account manager",
    "contact": "Customer contact",
    "month": "Month",
    "period": "Period",
    "as_of": "Figures as of",
    "in_progress": "The month is not over: figures run from its start to the instant above; "
                   "availability is over the whole month's length.",
    "outage_basis": "Downtime from",
    "basis.tickets": "fault tickets (reported to restored, time on hold excluded)",
    "basis.monitoring": "network monitoring (observed down to up)",
    "basis.both": "the union of fault tickets and network monitoring",
    "summary": "Summary",
    "circuits": "Circuits",
    "circuits_met": "Circuits meeting their target",
    "faults": "Faults this month",
    "missed_restorations": "Restoration limits missed",
    "repeat_faults": "Repeat faults",
    "chart_title": "Availability against target, per circuit",
    "chart_legend_met": "met",
    "chart_legend_missed": "missed",
    "chart_legend_target": "target",
    "chart_partial": "Showing the {shown} circuits with the least margin (of {total}); every circuit is in the table.",
    "circuit_table": "Circuit availability",
    "circuit": "Circuit",
    "service": "Service",
    "sla_class": "SLA class",
    "tier": "Service tier",
    "ends": "A end — Z end",
    "target": "Target",
    "availability": "Achieved",
    "downtime": "Downtime",
    "budget": "Downtime budget",
    "budget_left": "Budget left",
    "met": "Met",
    "yes": "yes",
    "no": "no",
    "maintenance": "Announced maintenance (not counted as downtime)",
    "fault_table": "Faults",
    "ticket": "Ticket",
    "source": "Reported by",
    "reported": "Reported",
    "restored": "Restored",
    "restoration_time": "Restoration time (on hold excluded)",
    "restore_limit": "Restoration limit",
    "result": "Result",
    "outage_in_month": "Downtime this month",
    "held": "On hold",
    "repeat_of": "Repeat of",
    "carried_over": "from last month",
    "customer_caused": "customer-caused (not counted)",
    "not_restored": "not restored",
    "no_faults": "No faults this month.",
    "process_table": "Process limits",
    "kind": "Limit",
    "limit": "Required",
    "met_count": "Met",
    "breached_count": "Missed",
    "pending_count": "Pending",
    "share": "Share met",
    "repeat_table": "Repeat faults",
    "repeat_rule": "class {cls}: fewer than 1 repeat per {months} month(s)",
    "no_repeats": "No repeat faults this month.",
    "compensation_table": "Compensation (per the contract)",
    "compensation_example": "Example credit table: the shares are per the customer's contract, not contract figures.",
    "tier_reached": "Availability tier",
    "availability_credit": "Availability credit",
    "restoration_credit": "Restoration credit",
    "credit_total": "Total (of the monthly fee)",
    "capped": "capped",
    "no_credit_table": "no credit table",
    "negotiable": "negotiable",
    "no_compensation": "none",
    "below": "below",
    "definitions": "Availability = 1 − downtime ÷ length of the month; downtime is the union of outages less "
                   "announced maintenance and customer-caused faults. Budget = (1 − target) × length of the month.",
    "generated_by": "Generated by monitord",
    "timeline": "Timeline",
    "step": "Step",
    "time": "Time",
    "limits": "Limits",
    "start": "Started",
    "due": "Due",
    "done": "Done",
    "elapsed": "Took",
    "state": "State",
    "fault_report": "Fault report",
    "report_due": "Fault report due",
    "report_sent": "Fault report sent",
    "report_not_sent": "Fault report not sent yet",
    "report_waits": "The fault report is due {limit} after restoration",
    "report_none": "This class promises no fault report",
    "on_hold": "on hold (clock stopped)",
    "step.reported": "reported",
    "step.clock_start": "first seen down by monitoring",
    "step.dispatched": "dispatched",
    "step.accepted": "accepted by the repair team",
    "step.paused": "on hold (customer side)",
    "step.resumed": "resumed",
    "step.restored": "service restored",
    "step.confirmed": "restoration confirmed",
    "step.report_sent": "fault report sent",
    "step.closed": "closed",
    "kind.dispatch": "Dispatch",
    "kind.accept": "Accept",
    "kind.restore": "Restoration",
    "kind.confirm": "Confirm",
    "kind.report": "Fault report",
    "state.met": "met",
    "state.breached": "missed",
    "state.pending": "pending",
    "source.customer": "customer (hotline)",
    "source.account_manager": "account manager",
    "source.monitoring": "our monitoring",
    "tier.commitment": "SLA commitment",
    "tier.maintenance": "maintenance guarantee",
    "tier.quality": "quality level",
    "level.group": "group",
    "level.provincial": "provincial",
    "level.local_a": "local A",
    "level.local_b": "local B",
    "level.local_c": "local C",
    "service.sdh": "SDH circuit",
    "service.mpls_vpn": "MPLS-VPN",
    "service.ethernet": "Ethernet leased line",
    "service.internet": "Internet leased line",
    "service.leased_fibre": "leased fibre",
    "service.ddn": "DDN",
    "service.frame_relay": "frame relay",
    "service.atm": "ATM",
    "service.satellite": "satellite circuit",
    "service.fixed_voice": "fixed voice",
    "service.number_4008": "4008 number",
    "service.ict": "ICT service",
    "vpn": "VPN",
    "h": " h",
    "min": " min",
    "s": " s",
    "wd": " working day(s)",
}

_LABELS = {"zh-CN": _ZH, "en": _EN}


@dataclass(frozen=True)
class Text:
    """Labels and formatters of one language for one time zone."""

    lang: str
    tz: ZoneInfo

    def __call__(self, key: str, **fill: object) -> str:
        """The label of ``key``; an unknown key shows the part after its dot (e.g. a service code)."""
        words = _LABELS[self.lang]
        text = words.get(key) or _EN.get(key) or key.rpartition(".")[2]
        return text.format(**fill) if fill else text

    def pct(self, ratio: float | None, places: int = 4) -> str:
        """A ratio as a percentage without trailing zeros: 0.99995 -> ``99.995 %``."""
        if ratio is None:
            return "—"
        text = f"{ratio * 100:.{places}f}".rstrip("0").rstrip(".")
        return f"{text} %"

    def dur(self, seconds: float | None) -> str:
        """Seconds as hours, minutes and seconds, zero parts left out: ``1 h 05 min``, ``4 min 28 s``."""
        if seconds is None:
            return "—"
        sign, total = ("−" if seconds < 0 else ""), round(abs(seconds))
        h, rest = divmod(total, 3600)
        m, s = divmod(rest, 60)
        parts = []
        if h:
            parts.append(f"{h}{self('h')}")
        if m or (h and s):
            parts.append(f"{m:02d}{self('min')}" if h else f"{m}{self('min')}")
        if s or not parts:
            parts.append(f"{s}{self('s')}")
        sep = "" if self.lang == "zh-CN" else " "
        return sign + sep.join(parts)

    def limit(self, limit: Limit | None) -> str:
        """A limit as the rules mean it: a duration, or working days."""
        if limit is None:
            return "—"
        if isinstance(limit, WorkingDays):
            return f"{limit.days}{self('wd')}"
        assert isinstance(limit, timedelta)
        return self.dur(limit.total_seconds())

    def dt(self, instant: datetime | None) -> str:
        """An instant in the report's zone, to the minute (to the second when it has seconds)."""
        if instant is None:
            return "—"
        local = instant.astimezone(self.tz)
        return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
