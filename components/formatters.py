"""Display text for the numbers on the monitor page: losses, throughput, money, durations, times.

Money is ``Decimal`` end to end (the database's Numeric(14, 4)); a float is refused rather than
silently rounded, because ``0.1 + 0.2`` dollars is how invoices end up a cent off.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from catalog.base_models import find_base_model

MISSING = "—"
_CENT = Decimal("0.01")


def base_model_name(hub_id: object) -> str:
    """The catalogue's display name of a base model (``Mistral 7B v0.1``); an id the catalogue no
    longer offers is shown as stored, and a missing one as a dash."""
    model = find_base_model(hub_id)
    if model is not None:
        return model.display_name
    return str(hub_id) if hub_id else MISSING


def format_loss(value: float | None) -> str:
    """A loss to 4 significant digits (``0.1235``, ``1.235e-05``); NaN stays visible as ``NaN``."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "NaN"
    return f"{value:.4g}"


def format_throughput(tokens_per_second: float | None) -> str:
    """Whole tokens per second with thousands separators: ``12,345 tok/s``."""
    if tokens_per_second is None or not math.isfinite(tokens_per_second):
        return MISSING
    return f"{round(tokens_per_second):,} tok/s"


def format_percent(value: float | None, digits: int = 0) -> str:
    """``87%``; missing or non-finite values become the dash."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}%"


def format_duration(seconds: float | None) -> str:
    """A compact duration: ``45s``, ``3m 05s``, ``1h 02m``, ``2d 03h``."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def parse_timestamp(value: str | datetime) -> datetime:
    """An ISO-8601 string or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_money(value: object) -> Decimal | None:
    """A money value as the API's JSON carries it (a string such as ``"12.3400"``) as a Decimal;
    None when it is missing or not a number."""
    if value is None or isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def format_relative_time(at: datetime, now: datetime) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago`` (or ``in 4 min`` for the future)."""
    delta = (now - at).total_seconds()
    future, delta = delta < 0, abs(delta)
    if delta < 45:
        return "just now"
    for limit, unit, size in ((3600, "min", 60), (86_400, "h", 3600), (math.inf, "day", 86_400)):
        if delta < limit:
            count = round(delta / size)
            label = unit if unit != "day" or count == 1 else "days"
            return f"in {count} {label}" if future else f"{count} {label} ago"
    return MISSING  # unreachable: the last limit is infinite


def format_absolute_time(at: datetime) -> str:
    """``2026-11-28 17:52:05 UTC``: unambiguous, sortable, no locale guessing on the server."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
