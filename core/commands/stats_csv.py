"""``stats csv [30d]``: usage per UTC day and domain as a CSV file, for a spreadsheet.

One row describes the questions asked on a day in a domain and what came of them: answered,
declined, given a verified answer, 👍/👎 and hand-offs on those answers, tokens and cost.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from core.commands.context import CommandContext
from core.commands.reply import CommandReply, Fact

DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One CSV row. A question's domain is the first domain of its answer's route ("none"
    when it was not routed); feedback and hand-offs count on the day of the question."""

    day: date
    domain: str
    questions: int
    answered: int
    declined: int
    verified: int
    thumbs_up: int
    thumbs_down: int
    handoffs: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


COLUMNS = tuple(f.name for f in fields(DailyUsage))


class DailyReport(Protocol):
    """``store.daily_report.PgDailyReport``."""

    async def daily(self, since: datetime, until: datetime) -> list[DailyUsage]:
        """Rows for days and domains with questions, by day then domain."""
        ...


def to_csv(rows: list[DailyUsage]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = list(astuple(row))
        values[0] = row.day.isoformat()
        values[-1] = f"{row.cost_usd:.6f}"
        writer.writerow(values)
    return out.getvalue().encode("utf-8")


async def run_stats_csv(ctx: CommandContext, days: int | None) -> CommandReply:
    report = ctx.services.daily_report
    if report is None:
        return CommandReply(
            title="`stats csv` is not set up here", sections=["There is no store for it."], ok=False
        )
    days = days or DEFAULT_DAYS
    # Whole UTC days: today and the days before it.
    first = ctx.now.astimezone(UTC).date() - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tzinfo=UTC)
    rows = await report.daily(since, ctx.now)
    ctx.audit_details.update(days=days, format="csv", rows=len(rows))
    name = f"switchboard-usage-{first.isoformat()}-to-{ctx.now.astimezone(UTC).date().isoformat()}.csv"
    return CommandReply(
        title=f"Usage per day and domain, last {days} days",
        sections=["One row per UTC day and domain that had questions."],
        facts=[
            Fact("Questions", f"{sum(r.questions for r in rows):,}"),
            Fact("Verified answers given", f"{sum(r.verified for r in rows):,}"),
        ],
        file_name=name,
        file_content=to_csv(rows),
        file_type="text/csv",
    )
