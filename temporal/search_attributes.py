"""Registering the platform's custom search attributes (models.flow) with a Temporal server."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError, RPCStatusCode

from models.flow import SEARCH_ATTRIBUTES

# The dev server's --search-attribute flag spells types like this.
_CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type]}"]
    return flags


async def missing_search_attributes(client: Client) -> list[str]:
    resp = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=client.namespace))
    return [k.name for k in SEARCH_ATTRIBUTES if k.name not in resp.custom_attributes]


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any missing attribute; returns the names added. "Already exists" counts as success.

    Temporal Cloud does not allow this call from a namespace client; there the attributes are
    created once with tcld and a failure here is reported by the caller.
    """
    try:
        missing = await missing_search_attributes(client)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping server cannot list
            raise
        missing = [k.name for k in SEARCH_ATTRIBUTES]
    if not missing:
        return []
    wanted = {
        k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in SEARCH_ATTRIBUTES if k.name in missing
    }
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=wanted)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return []
    return missing
