"""The inbox worker on the server: started after the adapters, stopped before them."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bots.runtime import Runtime
from core.worker import InboxWorker, Redelivery

WORKER = web.AppKey("inbox_worker", InboxWorker)


def mount_worker(
    app: web.Application, runtime: Runtime, handlers: Mapping[str, Redelivery]
) -> InboxWorker:
    """Claim and redeliver ``handlers``' platforms' events whose lease ran out (any replica's)."""
    settings = runtime.settings
    worker = InboxWorker(runtime.inbox, sweep_s=settings.inbox_sweep_s, metrics=runtime.metrics)
    for platform, handler in handlers.items():
        worker.register(platform, handler)
    app[WORKER] = worker

    async def start(_: web.Application) -> None:
        worker.start()

    async def stop(_: web.Application) -> None:
        # on_shutdown: before the adapters' cleanup closes what redeliveries use.
        await worker.aclose()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return worker
