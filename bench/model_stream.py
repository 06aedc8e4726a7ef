"""CPU the bot spends reading a model's streamed answer, per chunk.

A fake OpenAI-compatible endpoint in a child process streams answers as fast as it can
(``--tokens`` content chunks, plus the role, finish and usage chunks, then ``[DONE]``); this
process reads ``--answers`` of them, ``--concurrency`` at a time, three ways, and divides its own
CPU time by the chunks read:

- SDK bytes only:    the HTTP response's bytes through the SDK, unparsed (the SDK's floor:
                     its request, transport and HTTP framing)
- openai SDK chunks: ``chat.completions.create(stream=True)``, a ``ChatCompletionChunk`` a chunk
- ModelClient:       ``ModelClient.stream_chat`` with the request sent by the SDK (as for
                     Azure OpenAI)
- ModelClient, aiohttp request: ``ModelClient.stream_chat`` with the request sent by
                     ``ChatPost``, what the bot uses for any other endpoint

    python -m bench.model_stream [--answers 400 --concurrency 50 --tokens 90] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from openai import AsyncOpenAI

from bench import command_line, machine, table, write_section
from bench.slack_pipeline import BenchModel
from core.llm.chat_post import ChatPost
from core.llm.client import ModelClient, ModelLimits

QUESTION = [{"role": "user", "content": "How do I connect to the VPN from home? (ticket q1)"}]
MODEL = "bench-chat"


def serve_model(tokens: int, ready: multiprocessing.Queue) -> None:
    """The fake endpoint (child process): no wait before the first token, none between."""

    async def main() -> None:
        model = BenchModel(0.0, 0.0, tokens)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", model.chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def bytes_only(client: AsyncOpenAI) -> None:
    async with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    ) as response:
        async for _ in response.http_response.aiter_bytes():
            pass


async def sdk_chunks(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    text = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)


def model_client(
    client: AsyncOpenAI, post: ChatPost | None = None
) -> Callable[[AsyncOpenAI], Awaitable[None]]:
    ours = ModelClient(client, chat_model=MODEL, limits=ModelLimits(retries=0), post=post)

    async def read(_: AsyncOpenAI) -> None:
        async for _ in ours.stream_chat(QUESTION):
            pass

    return read


async def measure(
    read: Callable[[AsyncOpenAI], Awaitable[None]], client: AsyncOpenAI, answers: int,
    concurrency: int,
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to read ``answers`` answers, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await read(client)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(answers)))
    return time.process_time() - cpu, time.perf_counter() - wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=90, help="content chunks per answer")
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_model, args=(args.tokens, ready), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=30)
        client = AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
        )
        post = ChatPost.for_client(client)
        readers = {
            "SDK bytes only": bytes_only,
            "openai SDK chunks": sdk_chunks,
            "ModelClient.stream_chat, SDK request": model_client(client),
            "ModelClient.stream_chat, aiohttp request": model_client(client, post),
        }
        chunks = args.answers * (args.tokens + 3)  # role, content…, finish, usage
        await measure(bytes_only, client, args.concurrency, args.concurrency)  # warm up
        rows = []
        floor = None
        for name, read in readers.items():
            runs = [
                await measure(read, client, args.answers, args.concurrency)
                for _ in range(args.rounds)
            ]
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            per_chunk = cpu / chunks * 1e6
            floor = per_chunk if floor is None else floor
            rows.append([
                name, f"{per_chunk:.1f}", f"{per_chunk - floor:.1f}",
                f"{cpu / args.answers * 1e3:.2f}", f"{chunks / wall:,.0f}",
            ])
        if post is not None:
            await post.aclose()
        await client.close()
    finally:
        server.kill()
        server.join()
    report = table(
        ["reader", "CPU µs / chunk", "µs / chunk above SDK bytes only", "CPU ms / answer",
         "chunks / s"],
        rows,
    )
    print(report)
    if not args.no_write:
        setup = (
            f"`{command_line()}` on {machine()}. {args.answers} answers of {args.tokens} "
            f"tokens, {args.concurrency} at a time, from a fake endpoint in another process "
            "that never waits; CPU time of the reading process only, median of "
            f"{args.rounds} runs, divided by the chunks read."
        )
        write_section("Model stream reading", f"{setup}\n\n{report}")


if __name__ == "__main__":
    asyncio.run(main())
