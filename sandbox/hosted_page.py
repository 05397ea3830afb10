"""The sandbox's hosted checkout page: the charge as it stands, and a button or form per action
(sandbox/checkout.py). Each posts to `/sandbox/charges/{ref}/{action}?page=true` and comes back here.

Layering: `core/` only.
"""

from __future__ import annotations

import html
from decimal import ROUND_DOWN

from payments.wire import METADATA_RISK, METADATA_TERMS
from sandbox.store import CENT, COMMERCE, SandboxCharge, cents, iso, money_text

_STYLE = (
    "body{font-family:sans-serif;max-width:40em;margin:3em auto}form{display:inline-block;margin:0 .5em .5em 0}"
    "button{font-size:1.1em;padding:.4em 1em}input{width:7em}fieldset{margin:.5em 0}"
)


def _disclosures(metadata: dict) -> str:
    """The risk disclosure and terms version the merchant passed in the charge's metadata, if any."""
    e = html.escape
    risk, terms = metadata.get(METADATA_RISK), metadata.get(METADATA_TERMS)
    parts = []
    if isinstance(risk, str) and risk:
        parts.append(f'<p class="risk"><strong>Risks:</strong> {e(risk)}</p>')
    if isinstance(terms, str) and terms:
        version, _, digest = terms.partition(":")
        parts.append(f"<p><small>Terms version {e(version)} (sha256 {e(digest)})</small></p>")
    return "".join(parts)


def hosted_page_html(charge: SandboxCharge, allowed: list[str]) -> str:
    e = html.escape
    ref = e(charge.code or charge.ref)
    commerce = charge.provider == COMMERCE

    def form(action: str, label: str, fields: str = "") -> str:
        off = "" if action in allowed else " disabled"
        return (
            f'<form method="post" action="/sandbox/charges/{ref}/{action}?page=true">'
            f"{fields}<button{off}>{e(label)}</button></form>"
        )

    price, currency = cents(charge.amount), e(charge.currency)
    half = cents((charge.amount / 2).quantize(CENT, rounding=ROUND_DOWN))
    late = not charge.open and "pay" in allowed
    legacy = (
        ' <label><input type="checkbox" name="legacy" value="true" style="width:auto"> as charge:delayed</label>'
        if commerce and late
        else ""
    )
    payer = "".join(
        (
            form(
                "pay",
                "Pay late" if late else "Pay",
                f'<input name="amount" value="{price}"> <input name="currency" value="{currency}">{legacy} ',
            ),
            form("underpay", "Underpay (half)"),
            form("multiple", "Two payments", f'<input name="amounts" value="{half},{half}"> '),
            form("fail", "Fail"),
            form("expire", "Expire"),
        )
    )
    merchant = form("refund", "Refund") + (form("resolve", "Resolve") if commerce else "")
    provider = "Coinbase Commerce charge" if commerce else "Coinbase Business payment link"
    received = (
        f"{e(money_text(charge.received, charge.received_currency))} {e(charge.received_currency)}"
        if charge.received_currency
        else "nothing"
    )
    context = charge.timeline[-1].get("context") if commerce and charge.timeline else None
    status = e(charge.status) + (f" ({e(context)})" if context else "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox payment {ref}</title>
<style>{_STYLE}</style></head><body>
<h1>{e(price)} {currency}</h1>
<p>{e(provider)} <code>{e(charge.ref)}</code> — {e(charge.description)}</p>
{_disclosures(charge.metadata)}
<p>Status: <strong>{status}</strong>; received {received}; expires {e(iso(charge.expires_at))}</p>
<fieldset><legend>Payer</legend>{payer}</fieldset>
<fieldset><legend>Merchant (dashboard)</legend>{merchant}</fieldset>
<p><small>SGE payment sandbox: no real money moves. Another currency (e.g. ETH) is a wrong-asset payment.</small></p>
</body></html>"""
