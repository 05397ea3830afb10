"""Every workflow and activity the worker registers. New capabilities add themselves here."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from activities.archive import ArchiveActivities
from activities.backup import BackupActivities
from activities.housekeeping import HousekeepingActivities
from activities.kyc import KycActivities
from activities.ledger import LedgerActivities
from activities.monitor import MonitorActivities
from activities.onboarding import OnboardingActivities
from activities.onchain_rail import OnchainRailActivities
from activities.payments import PaymentActivities
from activities.payouts import PayoutActivities
from activities.platform import PlatformActivities
from activities.reconciliation import ReconciliationActivities
from activities.relayer import relayer_activities
from activities.reports import ReportActivities
from activities.treasury import TreasuryActivities
from core.settings import Settings
from workflows.aftercare import PaymentAftercareWorkflow
from workflows.archive import MonthlyArchiveWorkflow
from workflows.backup import DailyBackupWorkflow
from workflows.commissions import ReleaseCommissionsWorkflow
from workflows.housekeeping import HousekeepingWorkflow
from workflows.monitor import RelayerMonitorWorkflow, StuckCheckWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.payout_schedule import WeeklyPayoutsWorkflow
from workflows.payouts import PayoutBatchWorkflow
from workflows.probe import ProbeWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.reports import OperatorReportWorkflow
from workflows.treasury import TreasuryMovementWorkflow

WORKFLOWS: list[type] = [
    OnboardingWorkflow,
    PaymentAftercareWorkflow,
    ReleaseCommissionsWorkflow,
    HousekeepingWorkflow,
    ProbeWorkflow,
    PayoutBatchWorkflow,
    WeeklyPayoutsWorkflow,
    TreasuryMovementWorkflow,
    ReconciliationWorkflow,
    OperatorReportWorkflow,
    RelayerMonitorWorkflow,
    StuckCheckWorkflow,
    DailyBackupWorkflow,
    MonthlyArchiveWorkflow,
]


def build_activities(settings: Settings, engine: Engine) -> list[Callable]:
    activities: list[Callable] = []
    activities += PlatformActivities(engine, settings).all()
    activities += LedgerActivities(engine).all()
    activities += PaymentActivities(settings, engine).all()
    activities += KycActivities(settings, engine).all()
    activities += relayer_activities(settings, engine)
    activities += OnboardingActivities(settings, engine).all()
    activities += OnchainRailActivities(settings, engine).all()
    activities += HousekeepingActivities(settings, engine).all()
    activities += PayoutActivities(settings, engine).all()
    activities += TreasuryActivities(settings, engine).all()
    activities += ReconciliationActivities(settings, engine).all()
    activities += ReportActivities(settings, engine).all()
    activities += MonitorActivities(settings, engine).all()
    activities += BackupActivities(settings).all()
    activities += ArchiveActivities(settings, engine).all()
    return activities
