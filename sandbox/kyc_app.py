"""The KYC sandbox app: a local stand-in for Sumsub (`sge kyc-sandbox`, started by `sge dev up`).

Provider API (what `payments/kyc/sumsub.py` calls; every request's X-App-Access-Sig is checked)
    POST /resources/applicants?levelName=…                       create (409 when the external id exists)
    GET  /resources/applicants/{id | -;externalUserId=…}/one     read
    POST /resources/sdkIntegrations/levels/{level}/websdkLink    a hosted verification link
Person / operator surface
    GET  /kyc/{id}                                hosted page: approve / reject / review / submit buttons
    POST /sandbox/kyc/{id}/{action}[?page=true]   the same as an endpoint (tests, demo)
    GET  /sandbox/kyc/applicants[/{id}], GET /sandbox/kyc/deliveries[?applicant=]
    GET  /healthz

Each action sends a signed webhook to the API's `/v1/webhooks/kyc` with retries (sandbox/kyc_webhooks.py).
Like the payment sandbox it refuses to run in production.

Layering: `core/` only.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from sandbox.app import refuse_in_production
from sandbox.kyc_store import ACTIONS, Applicant, ApplicantStore, KycSandboxConfig
from sandbox.kyc_webhooks import KycWebhookSender
from sandbox.store import SandboxError

_SIGNATURE_WINDOW_S = 300  # a request signed longer ago (or ahead) than this is refused


class KycSandbox:
    def __init__(self, config: KycSandboxConfig):
        self.config = config
        self.store = ApplicantStore()
        self.webhooks = KycWebhookSender(config)

    def authenticate(self, request: Request, body: bytes) -> None:
        """Check the request like the provider: app token, fresh timestamp, HMAC over ts+method+path+body."""
        if not self.config.app_token or not self.config.secret_key:
            raise SandboxError(503, "the KYC sandbox has no app token / secret key configured")
        token, ts, sig = (request.headers.get(h) for h in ("x-app-token", "x-app-access-ts", "x-app-access-sig"))
        if token != self.config.app_token or not ts or not sig:
            raise SandboxError(401, "Invalid app token or missing signature")
        if not ts.isdigit() or abs(time.time() - int(ts)) > _SIGNATURE_WINDOW_S:
            raise SandboxError(401, "Request timestamp is out of range")
        path = request.scope["raw_path"].decode()
        if request.scope.get("query_string"):
            path += "?" + request.scope["query_string"].decode()
        message = f"{ts}{request.method}{path}".encode() + body
        expected = hmac.new(self.config.secret_key.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            raise SandboxError(401, "Request signature mismatch")

    def act(self, applicant: Applicant, action: str) -> None:
        self.webhooks.emit(applicant, self.store.act(applicant, action))


def hosted_page_html(applicant: Applicant) -> str:
    e = html.escape
    off = " disabled" if applicant.final else ""
    buttons = "".join(
        f'<form method="post" action="/sandbox/kyc/{e(applicant.id)}/{a}?page=true" style="display:inline">'
        f"<button{off}>{a.capitalize()}</button></form> "
        for a in ACTIONS
    )
    review = applicant.review
    answer = (review.get("reviewResult") or {}).get("reviewAnswer", "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox KYC {e(applicant.id)}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}}button{{font-size:1.1em;padding:.4em 1em}}</style>
</head><body><h1>Identity verification</h1>
<p>Applicant <code>{e(applicant.id)}</code> (level {e(applicant.level_name)})</p>
<p>Review: <strong>{e(review.get("reviewStatus", ""))}</strong> {e(answer)}</p>
<fieldset><legend>Outcome</legend>{buttons}</fieldset>
<p><small>SGE KYC sandbox: no documents are collected; each button sends the provider's signed webhook.</small></p>
</body></html>"""


def create_kyc_sandbox_app(config: KycSandboxConfig, *, environment: str | None = None) -> FastAPI:
    refuse_in_production(environment)
    sandbox = KycSandbox(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await sandbox.webhooks.start()
        try:
            yield
        finally:
            await sandbox.webhooks.stop()

    app = FastAPI(title="SGE KYC sandbox", summary="Sumsub applicants API stand-in", lifespan=lifespan)
    app.state.sandbox = sandbox

    @app.exception_handler(SandboxError)
    async def _error(_request: Request, exc: SandboxError):
        return JSONResponse({"description": exc.message, "code": exc.status}, status_code=exc.status)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "applicants": len(sandbox.store.applicants), "queued": sandbox.webhooks.queue.qsize()}

    @app.post("/resources/applicants")
    async def create_applicant(request: Request, levelName: str):
        body = await request.body()
        sandbox.authenticate(request, body)
        try:
            external = (await request.json())["externalUserId"]
        except (ValueError, KeyError, TypeError):
            raise SandboxError(400, "externalUserId is required") from None
        applicant = sandbox.store.create(str(external), levelName)
        sandbox.webhooks.emit(applicant, "applicantCreated")
        return applicant.provider_json()

    @app.get("/resources/applicants/{ref}/one")
    async def read_applicant(request: Request, ref: str):
        sandbox.authenticate(request, b"")
        return sandbox.store.get(ref).provider_json()

    @app.post("/resources/sdkIntegrations/levels/{level}/websdkLink")
    async def websdk_link(request: Request, level: str, externalUserId: str, ttlInSecs: int = 1800):
        sandbox.authenticate(request, await request.body())
        applicant = sandbox.store.get(f"-;externalUserId={externalUserId}")
        return {"url": f"{config.public_url}/kyc/{applicant.id}"}

    @app.get("/kyc/{applicant_id}", response_class=HTMLResponse)
    async def hosted_page(applicant_id: str):
        return hosted_page_html(sandbox.store.get(applicant_id))

    @app.post("/sandbox/kyc/{applicant_id}/{action}")
    async def act(applicant_id: str, action: str, page: bool = False):
        applicant = sandbox.store.get(applicant_id)
        sandbox.act(applicant, action)
        if page:
            return RedirectResponse(f"/kyc/{applicant.id}", status_code=303)
        return applicant.summary()

    @app.get("/sandbox/kyc/applicants")
    async def applicants():
        return [a.summary() for a in sorted(sandbox.store.applicants.values(), key=lambda a: -a.created_at)]

    @app.get("/sandbox/kyc/applicants/{applicant_id}")
    async def one_applicant(applicant_id: str):
        return sandbox.store.get(applicant_id).summary()

    @app.get("/sandbox/kyc/deliveries")
    async def deliveries(applicant: str | None = None):
        return [d.summary() for d in sandbox.webhooks.deliveries if applicant in (None, d.applicant_id)]

    return app
