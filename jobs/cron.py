"""Cron expressions as people write them, turned into APScheduler triggers.

APScheduler 3 numbers weekdays from Monday = 0, while cron numbers them from Sunday = 0, so a
literal ``from_crontab("0 2 * * 0")`` would run on Mondays. Numeric weekdays are translated to
names here; names (``sun``, ``mon-fri``) pass through unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from core.errors import ConfigurationError

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC = re.compile(r"^(\d)(?:-(\d))?(?:/(\d+))?$")


def _weekday(field: str) -> str:
    parts = []
    for part in field.split(","):
        match = _NUMERIC.match(part.strip())
        if not match:
            parts.append(part.strip())  # "*", "*/2", names and name ranges
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3) or 1)
        if first > 7 or last > 7 or first > last:
            raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        if match.group(2) is None and match.group(3) is not None:
            last = 6  # "1/2" means "from Monday, every other day"
        parts.extend(_NAMES[day % 7] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))  # keep order, drop the repeat that 0 and 7 make


def cron_trigger(expr: str, timezone: str = "UTC", *, setting: str | None = None) -> CronTrigger:
    """A trigger for ``expr``: five fields, or six with seconds first.

    Raises ``ConfigurationError`` naming ``setting`` when the expression is not valid.
    """
    fields = expr.split()
    try:
        if len(fields) == 5:
            second, (minute, hour, day, month, weekday) = "0", fields
        elif len(fields) == 6:
            second, minute, hour, day, month, weekday = fields
        else:
            raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday(weekday),
            timezone=timezone,
        )
    except (ValueError, LookupError) as exc:
        where = f"{setting}: " if setting else ""
        raise ConfigurationError(f"{where}{expr!r} is not a valid cron schedule ({exc}).") from exc


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    return trigger.get_next_fire_time(None, now)
