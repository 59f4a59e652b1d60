"""Reports for customers: the monthly SLA report and the per-fault report.

Data first (``monthly``, ``fault``: frozen dataclasses built from the SLA
functions in ``monitord.sla``), then formats (``render``: JSON, CSV, HTML, text).
"""
