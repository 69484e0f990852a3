"""AWSDateTime as AppSync writes it, for the worker and the local API alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime | None = None) -> str:
    """`moment` (an aware UTC datetime, default now) with milliseconds and `Z`: sorts as text in time order."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
