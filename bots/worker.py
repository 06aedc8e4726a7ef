"""The inbox worker on the server: started after the adapters, stopped before them."""

from __future__ import annotations

from aiohttp import web

from bots.runtime import Runtime
from core.worker import InboxWorker

WORKER = web.AppKey("inbox_worker", InboxWorker)


def mount_worker(app: web.Application, runtime: Runtime) -> InboxWorker:
    """Claim the events of the platforms mounted so far whose lease ran out (any replica's),
    and answer them again through the same lifecycle as a first delivery."""
    settings = runtime.settings
    worker = InboxWorker(runtime.inbox, sweep_s=settings.inbox_sweep_s, metrics=runtime.metrics)
    for platform in runtime.lifecycle.platforms:
        worker.register(platform, runtime.lifecycle)
    app[WORKER] = worker

    async def start(_: web.Application) -> None:
        worker.start()

    async def stop(_: web.Application) -> None:
        # on_shutdown: before the adapters' cleanup closes what redeliveries use.
        await worker.aclose()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return worker
