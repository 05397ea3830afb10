import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from core.columns import utcnow
from core.db import session_scope
from models.flow import FLOW_STATE
from models.platform import HALT_FLAG, PlatformFlag
from temporal.search_attributes import ensure_search_attributes, missing_search_attributes
from temporal.worker import build_worker, check_database


async def test_worker_runs_the_probe_on_the_dev_server(temporal_dev, settings, db_engine):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"temporal_task_queue": queue})
    with ThreadPoolExecutor(settings.worker_max_concurrent_activities) as pool:
        async with build_worker(temporal_dev.client, settings, db_engine, pool):
            result = await temporal_dev.client.execute_workflow("Probe", "hello", id=f"probe-{queue}", task_queue=queue)
    assert result == "hello"
    handle = temporal_dev.client.get_workflow_handle(f"probe-{queue}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_search_attributes_registration_is_idempotent(temporal_ts, temporal_dev):
    # time-skipping server: registered by the fixture; registering again is a success
    assert await ensure_search_attributes(temporal_ts.client) == []
    # dev server: declared at start, so nothing is missing and nothing is added
    assert await missing_search_attributes(temporal_dev.client) == []
    assert await ensure_search_attributes(temporal_dev.client) == []


async def test_workflows_can_set_the_flow_state_attribute(temporal_ts):
    """A workflow task that upserts an unregistered attribute fails forever; ours are registered."""
    handle = await temporal_ts.client.start_workflow(
        "Probe",
        "x",
        id=f"sa-{uuid.uuid4().hex[:8]}",
        task_queue="unpolled",
        search_attributes=TypedSearchAttributes([SearchAttributePair(FLOW_STATE, "registering")]),
    )
    desc = await handle.describe()
    assert desc.typed_search_attributes.get(FLOW_STATE) == "registering"
    await handle.terminate()


def test_halt_switch_is_read_from_the_database(db_engine, settings):
    from activities.platform import PlatformActivities

    acts = PlatformActivities(db_engine, settings)
    assert acts.halt_status().halted is False
    with session_scope(db_engine) as session:
        session.add(
            PlatformFlag(key=HALT_FLAG, value=True, reason="reconciliation diff", updated_by="ops", updated_at=utcnow())
        )
    status = acts.halt_status()
    assert status.halted is True and status.reason == "reconciliation diff"


def test_worker_refuses_an_unmigrated_database(settings, tmp_path):
    import pytest

    from core.settings import ConfigError

    empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with pytest.raises(ConfigError, match="run `sge db upgrade`"):
        check_database(empty)
