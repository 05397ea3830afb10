"""The workers' drain switch (`sge workers drain|undrain`): while on, every worker stops polling for
new tasks once its running activities have finished, and waits; off, they poll again.

A database switch rather than a signal to a process: the CLI reaches every worker the same way on a
laptop and in Kubernetes (where it cannot know the pods), and a restarted pod stays drained.
"""

from __future__ import annotations

from sqlmodel import Session

from models.operators import Actor
from models.platform import WORKERS_DRAIN_FLAG
from models.switches import Switch, flip_switch, read_switch


def drain_state(session: Session) -> Switch:
    return read_switch(session, WORKERS_DRAIN_FLAG)


def set_drain(session: Session, actor: Actor, drained: bool, reason: str) -> Switch:
    """Turn the drain switch on or off, in the caller's transaction, audited as `workers.drain.on|off`."""
    _, after = flip_switch(session, actor, WORKERS_DRAIN_FLAG, drained, reason, "workers.drain")
    return after
