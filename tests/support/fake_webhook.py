"""A ticketing system's webhook endpoint: checks the signature as a receiver must, records
every delivery, and can fail the first few on purpose."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Delivery:
    delivery_id: str
    body: dict[str, Any]
    signed: bool
    status: int
    at: float = 0.0  # time.monotonic() when the response was sent


@dataclass
class FakeWebhook:
    """``failures`` first requests get ``failure_status``; ``received`` has every request."""

    secret: str
    failures: int = 0
    failure_status: int = 503
    tolerance_s: int = 300
    delay_s: float = 0.0  # a slow ticketing system: each request takes this long
    received: list[Delivery] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/tickets", self._ticket)
        return app

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.received if d.status == 200]

    def _valid(self, request: web.Request, raw: bytes) -> bool:
        timestamp = request.headers.get("X-Switchboard-Timestamp", "")
        given = request.headers.get("X-Switchboard-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance_s:
            return False
        base = b"v1:" + timestamp.encode() + b":" + raw
        wanted = "v1=" + hmac.new(self.secret.encode(), base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, wanted)

    async def _ticket(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        signed = self._valid(request, raw)
        status = 200 if signed else 401
        if signed and self.failures > 0:
            self.failures -= 1
            status = self.failure_status
        self.received.append(
            Delivery(
                delivery_id=request.headers.get("X-Switchboard-Delivery", ""),
                body=json.loads(raw or b"{}"),
                signed=signed,
                status=status,
                at=time.monotonic(),
            )
        )
        return web.json_response({"ok": status == 200}, status=status)
