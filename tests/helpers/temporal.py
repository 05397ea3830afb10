"""Temporal helpers for tests."""

from __future__ import annotations

from temporalio.client import Client


def temporal_address(client: Client) -> str:
    """The frontend address a test server listens on (what a worker or the API is pointed at)."""
    return client.service_client.config.target_host
