"""Listing every charge / payment link with its current snapshot (for reconciliation): the sandbox's
paging over real HTTP and the production clients' `list` generators that page through it all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from core.columns import utcnow
from payments.business import BusinessClient, business_link_body, idempotency_key
from payments.cdp_jwt import cdp_jwt
from payments.commerce import COMMERCE_API_VERSION, CommerceClient, commerce_charge_body
from payments.wire import payment_metadata
from tests.helpers.payments import BUSINESS_KEY_ID, BUSINESS_KEY_PEM, COMMERCE_API_KEY, FEE, WALLET, act

COMMERCE_HEADERS = {"X-CC-Api-Key": COMMERCE_API_KEY, "X-CC-Version": COMMERCE_API_VERSION}


class CountingHttp:
    """An httpx client that counts the GETs to each path (one per page)."""

    def __init__(self):
        self.gets: list[str] = []
        self.client = httpx.Client(timeout=10, event_hooks={"request": [self._seen]})

    def _seen(self, request: httpx.Request) -> None:
        if request.method == "GET":
            self.gets.append(request.url.path)


@pytest.fixture
def http() -> Iterator[CountingHttp]:
    counting = CountingHttp()
    with counting.client:
        yield counting


def make_charges(sandbox, http, n: int, first: int = 0) -> list[str]:
    client = CommerceClient(sandbox.url, COMMERCE_API_KEY, http)
    refs = []
    for i in range(first, first + n):
        body = commerce_charge_body(
            name="Reg",
            description="fee",
            amount_minor=FEE,
            currency="USD",
            metadata=payment_metadata(f"c-{i}", "p", WALLET),
        )
        refs.append(client.create(body).provider_ref)
    return refs


def make_links(sandbox, http, n: int, first: int = 0) -> list[str]:
    """`n` links under payment keys b-<first>... (the same key would answer the same link: idempotency)."""
    client = BusinessClient(sandbox.url, BUSINESS_KEY_ID, BUSINESS_KEY_PEM, http)
    expires = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    refs = []
    for i in range(first, first + n):
        body = business_link_body(
            description="fee",
            amount_minor=FEE,
            currency="USDC",
            expires_at=expires,
            metadata=payment_metadata(f"b-{i}", "p", WALLET),
        )
        refs.append(client.create(body, idempotency_key=idempotency_key(f"b-{i}")).provider_ref)
    return refs


def business_get(sandbox, http, path: str = "/api/v1/payment-links", **params) -> httpx.Response:
    url = f"{sandbox.url}{path}"
    token = cdp_jwt(BUSINESS_KEY_ID, BUSINESS_KEY_PEM, "GET", url)
    return http.get(url, params=params, headers={"Authorization": f"Bearer {token}"})


# --- Commerce ----------------------------------------------------------------------------------------------


def test_commerce_list_pages_through_every_charge_with_its_snapshot(sandbox, http):
    refs = make_charges(sandbox, http.client, 3)
    make_links(sandbox, http.client, 2)  # not charges: never listed here
    refs += make_charges(sandbox, http.client, 4, first=3)
    act(sandbox, refs[1], "pay")
    act(sandbox, refs[3], "pay", amount="0.05", currency="ETH")
    act(sandbox, refs[5], "multiple", amounts="10,20")
    client = CommerceClient(sandbox.url, COMMERCE_API_KEY, http.client)
    http.gets.clear()
    listed = list(client.list(page_size=3))
    assert http.gets == ["/charges"] * 3  # 3 + 3 + 1
    assert [c.provider_ref for c in listed] == refs[::-1]
    assert listed == [client.get(r) for r in refs[::-1]]
    paid = {c.provider_ref: (c.paid_minor, c.paid_currency, c.context) for c in listed if c.paid_minor}
    assert paid == {
        refs[1]: (FEE, "USD", None),
        refs[3]: (5 * 10**16, "ETH", "OTHER"),
        refs[5]: (30_000_000, "USD", "MULTIPLE"),
    }
    assert [c.provider_ref for c in client.list(page_size=2, order="asc")] == refs


def test_commerce_pagination_fields(sandbox, http):
    refs = make_charges(sandbox, http.client, 5)
    newest = refs[::-1]
    first = http.client.get(f"{sandbox.url}/charges", params={"limit": 2}, headers=COMMERCE_HEADERS).json()
    page = first["pagination"]
    assert [c["id"] for c in first["data"]] == newest[:2]
    assert (page["total"], page["yielded"], page["limit"], page["order"]) == (5, 2, 2, "desc")
    assert page["cursor_range"] == newest[:2] and page["previous_uri"] is None
    assert page["next_uri"].endswith(f"starting_after={newest[1]}")
    last = http.client.get(
        f"{sandbox.url}/charges", params={"limit": 2, "starting_after": newest[3]}, headers=COMMERCE_HEADERS
    ).json()
    assert [c["id"] for c in last["data"]] == newest[4:] and last["pagination"]["next_uri"] is None
    assert last["pagination"]["previous_uri"].endswith(f"ending_before={newest[4]}")
    before = http.client.get(
        f"{sandbox.url}/charges", params={"limit": 2, "ending_before": newest[3]}, headers=COMMERCE_HEADERS
    ).json()
    assert [c["id"] for c in before["data"]] == newest[1:3]
    for bad in ({"starting_after": "nope"}, {"limit": 101}, {"order": "sideways"}):
        resp = http.client.get(f"{sandbox.url}/charges", params=bad, headers=COMMERCE_HEADERS)
        assert resp.status_code == 400, bad
    assert http.client.get(f"{sandbox.url}/charges").status_code == 401


def test_find_by_key_looks_a_few_pages_back(sandbox, http):
    make_charges(sandbox, http.client, 5)
    client = CommerceClient(sandbox.url, COMMERCE_API_KEY, http.client)
    assert client.find_by_key("c-0", page_size=2).payment_key == "c-0"  # the oldest, on the third page
    assert client.find_by_key("c-0", page_size=2, max_pages=2) is None
    assert client.find_by_key("nobody", page_size=2) is None


# --- Business ----------------------------------------------------------------------------------------------


def test_business_list_pages_through_every_link_with_its_snapshot(sandbox, http):
    refs = make_links(sandbox, http.client, 2)
    make_charges(sandbox, http.client, 2)  # not payment links: never listed here
    refs += make_links(sandbox, http.client, 3, first=2)
    act(sandbox, refs[0], "pay")
    act(sandbox, refs[2], "multiple", amounts="10,20")
    act(sandbox, refs[4], "pay", amount="0.05", currency="ETH")
    act(sandbox, refs[3], "expire")
    client = BusinessClient(sandbox.url, BUSINESS_KEY_ID, BUSINESS_KEY_PEM, http.client)
    http.gets.clear()
    listed = list(client.list(page_size=2))
    assert http.gets == ["/api/v1/payment-links"] * 3  # 2 + 2 + 1
    assert [c.provider_ref for c in listed] == refs[::-1]
    assert listed == [client.get(r) for r in refs[::-1]]
    paid = {c.provider_ref: (c.provider_status, c.paid_minor, c.paid_currency) for c in listed}
    assert paid == {
        refs[0]: ("COMPLETED", FEE, "USDC"),
        refs[1]: ("ACTIVE", None, None),
        refs[2]: ("COMPLETED", 30_000_000, "USDC"),
        refs[3]: ("EXPIRED", None, None),
        refs[4]: ("FAILED", 5 * 10**16, "ETH"),
    }
    assert [c.provider_ref for c in client.list(status="COMPLETED")] == [refs[2], refs[0]]


def test_business_list_is_stable_while_links_are_made(sandbox, http):
    refs = make_links(sandbox, http.client, 4)
    client = BusinessClient(sandbox.url, BUSINESS_KEY_ID, BUSINESS_KEY_PEM, http.client)
    listing = client.list(page_size=2)
    seen = [next(listing).provider_ref, next(listing).provider_ref]
    make_links(sandbox, http.client, 1, first=4)  # newer than everything listed: not on a later page
    seen += [c.provider_ref for c in listing]
    assert seen == refs[::-1]


def test_business_pagination_fields_and_auth(sandbox, http):
    refs = make_links(sandbox, http.client, 3)
    first = business_get(sandbox, http.client, pageSize=2).json()
    assert [link["id"] for link in first["paymentLinks"]] == refs[::-1][:2] and first["nextPageToken"]
    last = business_get(sandbox, http.client, pageSize=2, pageToken=first["nextPageToken"]).json()
    assert [link["id"] for link in last["paymentLinks"]] == [refs[0]] and "nextPageToken" not in last
    assert len(business_get(sandbox, http.client).json()["paymentLinks"]) == 3  # default pageSize 20
    for bad in ({"pageSize": 0}, {"pageSize": 101}, {"pageToken": "bm9wZQ=="}, {"pageToken": "%%%"}):
        assert business_get(sandbox, http.client, **bad).status_code == 400, bad
    assert http.client.get(f"{sandbox.url}/api/v1/payment-links").status_code == 401
    token = cdp_jwt(BUSINESS_KEY_ID, BUSINESS_KEY_PEM, "GET", f"{sandbox.url}/api/v1/payment-links/{refs[0]}")
    other = http.client.get(f"{sandbox.url}/api/v1/payment-links", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 401  # a token for another path
