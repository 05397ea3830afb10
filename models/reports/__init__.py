"""Operator reports (issue 12 part C): a daily and a weekly summary computed from the DB and persisted.

Modules: `tables` (the persisted report, the security-event counters), `counters` (recording refusals
that leave no other row: operator auth failures, SIWE failures, attribution refusals), `content` (the
report's sections from real rows), `store` (period arithmetic, save and read back), `charts` (inline SVG).
"""

from models.reports.tables import OperatorReport, SecurityEventCount

BUILD_OPERATOR_REPORT = "reports.build"  # activity name

__all__ = ["BUILD_OPERATOR_REPORT", "OperatorReport", "SecurityEventCount"]
