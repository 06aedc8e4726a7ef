"""The one aiohttp server: health, readiness, metrics, and the platform routes."""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bots.platform import Platform
from bots.platforms import PLATFORMS
from bots.readiness import ReadinessProbe
from bots.runtime import Runtime
from bots.worker import mount_worker
from core.errors import ModelError
from core.observability import new_request_id
from core.settings import Settings
from store.jobs import advisory_lock

log = structlog.get_logger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
LISTEN_BACKLOG = 4096  # capped by the kernel's net.core.somaxconn
READINESS = web.AppKey("readiness", ReadinessProbe)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A caller's X-Request-Id is kept only when it is a plain token: it goes into every log line.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _caller_request_id(request: web.Request) -> str | None:
    given = request.headers.get("X-Request-Id")
    return given if given and _REQUEST_ID.fullmatch(given) else None


@web.middleware
async def _request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id(_caller_request_id(request))
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics = request.app[RUNTIME].metrics
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.http_requests.labels(route=route, status=str(exc.status)).inc()
        exc.headers["X-Request-Id"] = request_id
        raise
    except Exception:
        log.exception("request_failed", path=request.path)
        metrics.http_requests.labels(route=route, status="500").inc()
        return web.json_response(
            {"error": "internal error", "request_id": request_id},
            status=500,
            headers={"X-Request-Id": request_id},
        )
    metrics.http_requests.labels(route=route, status=str(response.status)).inc()
    response.headers["X-Request-Id"] = request_id
    if route not in {"/healthz", "/readyz", "/metrics"}:
        log.info(
            "http_request",
            method=request.method,
            path=request.path,
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Database, Redis and model endpoint (when configured), each with its reason when down."""
    readiness = await request.app[READINESS].check()
    return web.json_response(readiness.to_dict(), status=readiness.http_status)


async def _close_readiness(app: web.Application) -> None:
    await app[READINESS].aclose()


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[RUNTIME].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(runtime: Runtime, platforms: Sequence[Platform] = PLATFORMS) -> web.Application:
    """The aiohttp application with every route Switchboard serves: health, readiness and
    metrics, and each configured platform's (``bots/platforms.py``)."""
    app = web.Application(
        middlewares=[_request_context], client_max_size=runtime.settings.max_body_bytes
    )
    app[RUNTIME] = runtime
    app[READINESS] = ReadinessProbe(runtime)
    app.on_cleanup.append(_close_readiness)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    for platform in platforms:
        if platform.configured(runtime.settings):
            platform.mount(app, runtime)
            if platform.personal_data is not None:
                runtime.services.privacy.register(platform.name, platform.personal_data)
    # Events whose answering replica died are claimed again and answered (core/worker.py).
    mount_worker(app, runtime)
    return app


async def ingest_sample_if_empty(
    runtime: Runtime, *, progress: Callable[[str], None] | None = None
) -> str:
    """Load the bundled sample knowledge base when the index is empty; say what happened."""
    chunks = await runtime.knowledge.count_chunks()
    sample = runtime.settings.sample_knowledge
    if chunks:
        return f"{chunks} chunks indexed"
    if sample is None or not sample.is_dir():
        return "empty — run `switchboard ingest PATH` to add documents"
    if progress is not None:
        progress(f"Reading the sample knowledge base in {sample}…")
    report = await runtime.ingestor.ingest([sample])
    return f"sample knowledge base ingested from {sample}: {report.summary()}"


async def catch_up_embeddings(runtime: Runtime) -> int:
    """Embed the chunks that have no vector yet, while the server already answers on full text.

    After the embedding model changed (its old vectors were dropped at start) or chunks were
    written while the endpoint was down, nothing else would embed them before the next ingest.
    One replica does it at a time; returns how many chunks it embedded.
    """
    if runtime.embedder is None:
        return 0
    async with advisory_lock(runtime.db.url, "embedding-catch-up") as held:
        if not held:
            return 0
        try:
            return await runtime.ingestor.backfill()
        except ModelError as exc:
            # The next ingest, the reingest job or the next start tries again.
            log.warning("embedding_catch_up_failed", error=str(exc))
            return 0
        except Exception:
            log.exception("embedding_catch_up_failed")
            return 0


def describe_configuration(
    settings: Settings,
    base: str,
    db_where: str,
    knowledge: str,
    platforms: Sequence[Platform] = PLATFORMS,
) -> str:
    def line(label: str, value: str) -> str:
        return f"  {label:<15} {value}"

    model = (
        f"{settings.chat_model} at {settings.openai_base_url or 'OpenAI'}"
        if settings.model_configured
        else "not configured — answering extractively from the documents "
        "(set OPENAI_BASE_URL / OPENAI_API_KEY and SWITCHBOARD_CHAT_MODEL)"
    )
    return "\n".join(
        [
            f"Switchboard is listening on {base}",
            line("Health", f"{base}/healthz  {base}/readyz  {base}/metrics"),
            *(line(p.label, p.describe(settings, base)) for p in platforms),
            line("Database", db_where),
            line("Redis", "configured" if settings.redis_url else "not configured — in-process fallbacks"),
            line("Model", model),
            line("Knowledge", knowledge),
        ]
    )


def _announce(text: str) -> None:
    print(text, flush=True)


def settle_heap() -> None:
    """Set what the start made (imports, clients, the knowledge read) aside from the garbage
    collector: it lives as long as the process, and the collector's first full pass over it
    otherwise stalls the event loop for a quarter of a second in the middle of a burst."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, *, announce: Callable[[str], None] = _announce) -> None:
    """Run the server until SIGINT or SIGTERM. Each slow step of the start says what it does
    in one line (the first run initialises Postgres and reads the sample knowledge)."""
    announce(
        f"Starting the embedded Postgres in {settings.data_dir / 'pgdata'} and applying migrations…"
        if settings.database_url is None
        else "Connecting to DATABASE_URL and applying migrations…"
    )
    async with await Runtime.start(settings) as runtime:
        knowledge = await ingest_sample_if_empty(runtime, progress=announce)
        if settings.jobs_enabled and runtime.jobs is not None:
            runtime.jobs.start()  # raises on a bad schedule; runtime.aclose() stops it
        app = build_app(runtime)
        settle_heap()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # A burst (2,000 events at once) must not overflow the listen queue: the kernel would
        # drop connections and the platform's retries would arrive seconds later.
        site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.port
        base = f"http://{settings.host}:{port}"
        where = (
            f"embedded Postgres 16 + pgvector in {settings.data_dir / 'pgdata'}"
            if runtime.db.embedded
            else "DATABASE_URL"
        )
        announce(describe_configuration(settings, base, where, knowledge))
        catch_up = asyncio.create_task(catch_up_embeddings(runtime))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("shutting_down")
            catch_up.cancel()
            await asyncio.gather(catch_up, return_exceptions=True)
            await runner.cleanup()  # answers in flight get their grace, then are cancelled
            # Those cut short go to another replica at its next sweep, not after their lease.
            await runtime.inbox.release_held()
