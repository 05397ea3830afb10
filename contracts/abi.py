"""Pure ABI helpers: encode calls, decode reverts and events. No network, no web3 provider.

Values crossing into workflows must be JSON-friendly, so decoded values come back as: addresses as
EIP-55 strings, bytes as 0x-hex strings, integers as int, tuples as lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_typing import ABIElement, ABIEvent
from eth_utils import (
    abi_to_signature,
    collapse_if_tuple,
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    keccak,
    to_checksum_address,
)
from hexbytes import HexBytes

from contracts import ALL_CONTRACTS, load_artifact

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
PANIC_CODES = {
    0x01: "assert failed",
    0x11: "arithmetic overflow/underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to zero-initialised function",
}


class AbiError(ValueError):
    pass


def to_bytes(value: str | bytes | bytearray) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise AbiError(f"not hex: {value[:20]!r}") from None
    raise AbiError(f"expected bytes or hex string, got {type(value).__name__}")


def ref_to_bytes32(ref: str | bytes) -> bytes:
    """A business reference (payment id, payout id) as the bytes32 the contracts key on.

    A 0x-prefixed 64-hex-digit string or 32 raw bytes is used as is; any other string is hashed
    (keccak256 of its UTF-8), so e.g. a Coinbase charge code maps to one stable bytes32.
    """
    if isinstance(ref, (bytes, bytearray)):
        if len(ref) != 32:
            raise AbiError(f"bytes32 ref must be 32 bytes, got {len(ref)}")
        return bytes(ref)
    if not ref:
        raise AbiError("empty reference")
    if ref.startswith("0x") and len(ref) == 66:
        try:
            return bytes.fromhex(ref[2:])
        except ValueError:
            pass
    return keccak(text=ref)


def _normalize(abi_type: str, component: dict[str, Any] | None, value: Any) -> Any:
    """JSON-ish value → what eth_abi encodes (hex → bytes, address → checksum, list → tuple)."""
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [_normalize(inner, component, v) for v in value]
    if abi_type.startswith("(") or abi_type == "tuple":
        comps = (component or {}).get("components", [])
        if isinstance(value, dict):
            value = [value[c["name"]] for c in comps]
        return tuple(_normalize(collapse_if_tuple(c), c, v) for c, v in zip(comps, value, strict=True))
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "bytes32" and isinstance(value, str) and not value.startswith(("0x", "0X")):
        return ref_to_bytes32(value)  # a business reference (payment/payout id) → its keccak256
    if abi_type.startswith("bytes"):
        raw = to_bytes(value)
        if abi_type != "bytes" and len(raw) != int(abi_type[5:]):
            raise AbiError(f"{abi_type} needs {abi_type[5:]} bytes, got {len(raw)}")
        return raw
    if abi_type.startswith(("uint", "int")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise AbiError(f"{abi_type} needs an int, got {type(value).__name__}")
        return value
    return value


def _jsonable(abi_type: str, value: Any) -> Any:
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [_jsonable(inner, v) for v in value]
    if isinstance(value, tuple):
        return [_jsonable("", v) for v in value]
    if abi_type == "address" or (isinstance(value, str) and len(value) == 42 and value.startswith("0x")):
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


def _input_types(element: dict[str, Any]) -> list[str]:
    return [collapse_if_tuple(i) for i in element.get("inputs", [])]


@dataclass
class ContractAbi:
    """One contract's ABI indexed for encoding and decoding."""

    name: str
    abi: list[dict[str, Any]]
    functions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    events: dict[bytes, dict[str, Any]] = field(default_factory=dict)

    # Elements stay plain dicts (as the artifacts hold them); eth_utils types them as TypedDicts,
    # hence the casts where they are handed over.
    def __post_init__(self) -> None:
        for element in self.abi:
            kind = element.get("type")
            if kind == "function":
                self.functions.setdefault(element["name"], []).append(element)
            elif kind == "error":
                self.errors[function_abi_to_4byte_selector(cast(ABIElement, element))] = element
            elif kind == "event" and not element.get("anonymous"):
                self.events[event_abi_to_log_topic(cast(ABIEvent, element))] = element

    def function(self, fn: str, nargs: int) -> dict[str, Any]:
        candidates = [f for f in self.functions.get(fn, []) if len(f.get("inputs", [])) == nargs]
        if len(candidates) != 1:
            raise AbiError(f"{self.name}.{fn} with {nargs} args: {len(candidates)} matches")
        return candidates[0]

    def encode_call(self, fn: str, *args: Any) -> bytes:
        element = self.function(fn, len(args))
        types = _input_types(element)
        values = [_normalize(t, c, a) for t, c, a in zip(types, element["inputs"], args, strict=True)]
        return function_abi_to_4byte_selector(cast(ABIElement, element)) + abi_encode(types, values)

    def decode_output(self, fn: str, nargs: int, data: bytes) -> list[Any]:
        element = self.function(fn, nargs)
        types = [collapse_if_tuple(o) for o in element.get("outputs", [])]
        return [_jsonable(t, v) for t, v in zip(types, abi_decode(types, data), strict=True)]

    def encode_deploy(self, bytecode: str, *args: Any) -> bytes:
        ctor: dict[str, Any] = next((e for e in self.abi if e.get("type") == "constructor"), {"inputs": []})
        types = _input_types(ctor)
        values = [_normalize(t, c, a) for t, c, a in zip(types, ctor["inputs"], args, strict=True)]
        return to_bytes(bytecode) + abi_encode(types, values)


@cache
def contract_abi(name: str) -> ContractAbi:
    return ContractAbi(name, load_artifact(name).abi)


def encode_call(contract: str, fn: str, *args: Any) -> bytes:
    """Calldata for `contract.fn(*args)`, e.g. `encode_call("SGEID", "mint", wallet)`."""
    return contract_abi(contract).encode_call(fn, *args)


# --- typed shortcuts for the calls the platform's workflows make ------------------------------------
def program_id(slug: str) -> bytes:
    """A program's on-chain id: keccak256 of its slug's UTF-8 bytes (`keccak256(bytes(slug))`)."""
    if not slug:
        raise AbiError("empty program slug")
    return keccak(text=slug)


def mint_identity(to: str) -> bytes:
    return encode_call("SGEID", "mint", to)


def register_referral(program: bytes, child: str, referrer: str) -> bytes:
    return encode_call("AffiliateRegistry", "registerReferral", program, child, referrer)


def deliver_claim(program: bytes, wallet: str, payment_id: str | bytes) -> bytes:
    return encode_call("SGEClaim", "deliverClaim", program, wallet, ref_to_bytes32(payment_id))


def claim(program: bytes, pay_token: str, payment_ref: str | bytes) -> bytes:
    """The user's own claim transaction (sent from the user's wallet, never the relayer)."""
    return encode_call("SGEClaim", "claim", program, pay_token, ref_to_bytes32(payment_ref))


# --- reverts -----------------------------------------------------------------------------------------
@cache
def _all_errors() -> dict[bytes, dict[str, Any]]:
    table: dict[bytes, dict[str, Any]] = {}
    for name in ALL_CONTRACTS:
        table.update(contract_abi(name).errors)
    return table


def decode_revert(data: str | bytes | None) -> str:
    """Human/machine-readable revert reason: `Error: msg`, `Panic(0x11: ...)`, or
    `CustomError(arg=value, ...)` for any error declared in our contracts (incl. OpenZeppelin's)."""
    if data is None:
        return "reverted without data"
    raw = to_bytes(data) if not isinstance(data, bytes) else data
    if len(raw) < 4:
        return "reverted without data" if not raw else f"reverted with data 0x{raw.hex()}"
    selector, body = raw[:4], raw[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            return f"Error: {abi_decode(['string'], body)[0]}"
        if selector == PANIC_SELECTOR:
            code = abi_decode(["uint256"], body)[0]
            return f"Panic(0x{code:02x}: {PANIC_CODES.get(code, 'unknown')})"
        element = _all_errors().get(selector)
        if element is not None:
            types = _input_types(element)
            values = abi_decode(types, body)
            args = ", ".join(
                f"{i.get('name') or f'arg{n}'}={_jsonable(t, v)}"
                for n, (i, t, v) in enumerate(zip(element["inputs"], types, values, strict=True))
            )
            return f"{element['name']}({args})"
    except Exception:  # noqa: BLE001 - malformed body: fall through to the raw form
        pass
    return f"reverted with data 0x{raw.hex()}"


# Reverts the same call may get past later: the contract is paused, or the claim inventory is
# topped up. Every other custom error of ours is permanent for that call.
# Reverts that pass by themselves or by an operator's fix; anything else will revert again.
TEMPORARY_REVERTS = frozenset({"EnforcedPause", "InsufficientInventory", "ProgramNotActive"})


def revert_name(reason: str) -> str:
    """The error's name in a `decode_revert` string: `AlreadyClaimed(...)` → `AlreadyClaimed`."""
    return reason.split("(", 1)[0].strip()


def is_temporary_revert(reason: str) -> bool:
    return revert_name(reason) in TEMPORARY_REVERTS


def revert_data_from_exception(exc: BaseException) -> str | None:
    """The revert data a web3 ContractLogicError (or an RPC error payload) carries, as hex."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, (bytes, bytearray)):
        return "0x" + bytes(data).hex()
    if isinstance(data, str) and data.startswith("0x"):
        return data
    return None


# --- events ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecodedLog:
    contract: str
    event: str
    address: str
    args: dict[str, Any]


def _event_candidates(topic0: bytes) -> list[tuple[str, dict[str, Any]]]:
    return [(name, contract_abi(name).events[topic0]) for name in ALL_CONTRACTS if topic0 in contract_abi(name).events]


def decode_log(
    address: str, topics: Sequence[str | bytes], data: str | bytes, *, contract: str | None = None
) -> DecodedLog | None:
    """Decode one log with our ABIs; `contract` (from the manifest) disambiguates events that share
    a signature (ERC-20 vs ERC-721 `Transfer`); otherwise the indexed-argument count does."""
    if not topics:
        return None
    topic_bytes = [to_bytes(t) for t in topics]
    candidates = _event_candidates(topic_bytes[0])
    if contract is not None:
        candidates = [c for c in candidates if c[0] == contract]
    for name, element in candidates:
        indexed = [i for i in element["inputs"] if i.get("indexed")]
        if len(indexed) != len(topic_bytes) - 1:
            continue
        plain = [i for i in element["inputs"] if not i.get("indexed")]
        try:
            plain_values = abi_decode([collapse_if_tuple(i) for i in plain], to_bytes(data))
            indexed_values = [
                abi_decode([collapse_if_tuple(i)], t)[0] for i, t in zip(indexed, topic_bytes[1:], strict=True)
            ]
        except Exception:  # noqa: BLE001 - a log this ABI cannot decode is someone else's
            continue
        values = dict(zip([i["name"] for i in plain], plain_values, strict=True))
        values.update(zip([i["name"] for i in indexed], indexed_values, strict=True))
        args = {i["name"]: _jsonable(collapse_if_tuple(i), values[i["name"]]) for i in element["inputs"]}
        return DecodedLog(contract=name, event=element["name"], address=to_checksum_address(address), args=args)
    return None


def event_topic(contract: str, event: str) -> str:
    """topic0 of `contract.event`, as 0x-hex (for eth_getLogs filters)."""
    for topic, element in contract_abi(contract).events.items():
        if element["name"] == event:
            return "0x" + topic.hex()
    raise AbiError(f"{contract} has no event {event}")


def address_topic(address: str) -> str:
    """An address as a 32-byte indexed topic (for filtering events by wallet)."""
    return "0x" + bytes(12).hex() + to_checksum_address(address)[2:].lower()


def signature(contract: str, fn: str, nargs: int) -> str:
    return abi_to_signature(cast(ABIElement, contract_abi(contract).function(fn, nargs)))


def hexstr(value: bytes | HexBytes | str) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()
