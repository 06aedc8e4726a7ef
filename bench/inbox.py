"""The inbox under load: accepting a burst, taking over a dead replica's events, renewing leases.

On a throwaway Postgres (or ``BENCH_DATABASE_URL``), with a history of finished rows in the
table as production would have:

- **accept**: N events at once through ``EventInbox.accept`` (the write before each ack), on one
  process's pool (``SWITCHBOARD_DB_POOL_MAX``, 20): per-event latency p50/p99, events/s;
- **take over**: all N leases run out at once (a replica holding them all died); three replicas'
  workers claim them in sweeps of 50 (``FOR UPDATE SKIP LOCKED``) until none is left: how long,
  and that each event was claimed exactly once;
- **renew**: one statement renewing N held leases (what every sweep does), and the inbox-depth
  query behind the gauges.

    python -m bench.inbox                  # 2,000 events, 200,000 finished rows of history
    python -m bench.inbox --events 500 --history 0 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from pydantic import SecretStr

from bench import command_line, machine, postgres, table, write_section
from core.settings import Settings
from store.database import Database
from store.inbox import EventInbox

SWEEP = 50


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(events: int, history: int, pool: int) -> list[tuple[str, str]]:
    results: list[tuple[str, str]] = []
    with postgres(os.environ.get("BENCH_DATABASE_URL")) as url:
        settings = Settings(
            _env_file=None, database_url=SecretStr(url), db_pool_max=pool, db_pool_min=pool
        )
        db = await Database.connect(settings)
        try:
            async with db.pool.connection() as conn:
                # Finished rows, as a week of retention keeps them.
                await conn.execute(
                    """INSERT INTO inbox (event_key, platform, state, attempts, updated_at)
                       SELECT 'old-' || g, 'slack', 'done', 1, now() - interval '1 day'
                       FROM generate_series(1, %s) g""",
                    (history,),
                )
                await conn.execute("ANALYZE inbox")
            first = EventInbox(db.pool, replica="first")
            latencies: list[float] = []

            async def accept(n: int) -> None:
                started = time.perf_counter()
                claim = await first.accept(f"Ev{n}", "slack", {"event": {"text": f"q{n}"}})
                latencies.append(time.perf_counter() - started)
                assert claim is not None

            started = time.perf_counter()
            await asyncio.gather(*(accept(n) for n in range(events)))
            elapsed = time.perf_counter() - started
            results += [
                (
                    "accept p50 / p99",
                    f"{percentile(latencies, 50) * 1000:.1f} / "
                    + f"{percentile(latencies, 99) * 1000:.1f} ms",
                ),
                ("accept throughput", f"{events / elapsed:,.0f} events/s"),
            ]

            renewals = []
            for _ in range(5):
                started = time.perf_counter()
                assert await first.renew() == events
                renewals.append(time.perf_counter() - started)
            depths = []
            for _ in range(5):
                started = time.perf_counter()
                depth = await first.depth()
                depths.append(time.perf_counter() - started)
            assert depth.working == events
            results += [
                (
                    f"renew {events:,} leases (one statement)",
                    f"{statistics.median(renewals) * 1000:.1f} ms",
                ),
                ("inbox depth query", f"{statistics.median(depths) * 1000:.1f} ms"),
            ]

            # The replica holding them all dies: every lease runs out at once.
            async with db.pool.connection() as conn:
                await conn.execute(
                    "UPDATE inbox SET lease_until = now() - interval '1 second' "
                    "WHERE state = 'working'"
                )
            others = [EventInbox(db.pool, replica=f"replica-{i}") for i in range(3)]
            claimed: list[str] = []
            sweeps = 0

            async def worker(inbox: EventInbox) -> None:
                nonlocal sweeps
                while True:
                    batch = await inbox.claim_due(["slack"], SWEEP)
                    sweeps += 1
                    if not batch:
                        return
                    claimed.extend(c.event_key for c in batch)

            started = time.perf_counter()
            await asyncio.gather(*(worker(inbox) for inbox in others))
            elapsed = time.perf_counter() - started
            assert sorted(claimed) == sorted(f"Ev{n}" for n in range(events)), "claimed twice"
            results += [
                (
                    f"take over {events:,} events (3 replicas, sweeps of {SWEEP})",
                    f"{elapsed * 1000:.0f} ms, {sweeps} claim queries, each event once",
                ),
            ]
        finally:
            await db.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = asyncio.run(run(args.events, args.history, args.pool))
    report = table(["measure", "result"], rows)
    print(report)
    if not args.no_write:
        write_section(
            "Inbox: accepting a burst, taking over, renewing",
            f"`{command_line()}` — {args.events:,} events, {args.history:,} finished rows in "
            f"the table, a pool of {args.pool} connections; {machine()}; load average "
            f"{load_before:.1f} when it started (the machine is shared).\n\n{report}\n\n"
            "*Accept* is the write every event waits for before its ack (no Redis here: the "
            "Postgres insert is the part that always happens). *Take over* is what follows a "
            "replica dying with all of them in flight: the other replicas' workers claim the rows "
            "in sweeps; with the default 5 s sweep, a dead replica's users wait for the lease "
            "(`SWITCHBOARD_INBOX_LEASE_S`, 15 s) plus at most one sweep, not for this.",
        )


if __name__ == "__main__":
    main()
