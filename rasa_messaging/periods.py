"""Reading the analytics parameters: points in time, durations, and the bins they make."""

import math
import re
from datetime import UTC, datetime

from pytimeparse import parse as parse_duration_words

from rasa_messaging.store import AnalyticsNotFound, Bins
from rasa_messaging.store.errors import InvalidParameter

MAX_BINS = 10_000
DEFAULT_BINS = 10
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}


def _number(value: str):
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_time(parameter: str, value: str) -> float:
    """ISO-8601 (with or without offset; naive = UTC) or Unix seconds → Unix seconds."""
    number = _number(value)
    if number is not None:
        return number
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise InvalidParameter(parameter, f"{value!r} is neither ISO-8601 (2018-01-01T11:03:01) nor Unix seconds") from None


def parse_window(value: str, parameter: str = "window") -> float:
    """Seconds (`3600`), what pytimeparse reads (`1d`, `2h30m`, `90 minutes`), or an ISO-8601
    duration (`P1D`, `PT1H30M`; years and months are not a fixed length and are refused)."""
    text = value.strip()
    seconds = _number(text)
    if seconds is None:
        seconds = parse_duration_words(text)
    if seconds is None and (match := _ISO_DURATION.match(text.upper())) and text.upper() not in ("P", "PT"):
        seconds = sum(float(amount) * _SECONDS[unit] for unit, amount in match.groupdict().items() if amount)
    if seconds is None:
        raise InvalidParameter(parameter, f"{value!r} is not a duration (try 1d, 2h30m, 90 minutes, 3600 or P1D)")
    if seconds <= 0:
        raise InvalidParameter(parameter, f"{value!r} is not a positive duration")
    return float(seconds)


def parse_duration_with_unit(value: str, parameter: str) -> float:
    """As `parse_window`, but a bare number is refused: `--older-than 90` meant days to the user
    who typed it, and read as seconds it would erase everything."""
    hint = "write 90d, 12w, 36h or P90D"
    if _number(value.strip()) is not None:
        raise InvalidParameter(parameter, f"{value!r} has no unit: {hint}")
    try:
        return parse_window(value, parameter)
    except InvalidParameter:  # its hint offers a bare 3600, which is refused here
        raise InvalidParameter(parameter, f"{value!r} is not a duration with a unit: {hint}") from None


LABEL_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


def bin_labels(starts: list[float]) -> list[str]:
    """The bins' start times (UTC), as short as they can be while no two read the same."""
    for fmt in LABEL_FORMATS:
        labels = [datetime.fromtimestamp(start, UTC).strftime(fmt) for start in starts]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def make_bins(start: float, end: float, window: float | None) -> Bins:
    """10 equal bins of whole seconds by default, else bins of `window` seconds."""
    if end < start:
        raise InvalidParameter("end", f"end ({end}) is before start ({start})")
    span = end - start
    if not math.isfinite(span):
        raise InvalidParameter("end", "the range from start to end is too large")
    if window is None:
        return Bins(start, end, max(1, math.ceil(span / DEFAULT_BINS)), DEFAULT_BINS)
    bins = span / window
    if not bins <= MAX_BINS:  # also catches an infinite count
        raise InvalidParameter("window", f"{bins:.3g} bins of {window:g} s from start to end; at most {MAX_BINS} are served")
    return Bins(start, end, window, max(1, math.ceil(bins)))


def analytics(store, start: str | None = None, end: str | None = None, window: str | None = None) -> dict:
    """The analytics for the raw parameters as a user gives them (the API and the CLI both call
    this). `start`/`end` default to the data's range. Raises `InvalidParameter`, or
    `AnalyticsNotFound` when there is no data and no explicit range."""
    first = parse_time("start", start) if start else None
    last = parse_time("end", end) if end else None
    window_seconds = parse_window(window) if window else None
    if first is None or last is None:
        data_range = store.data_range()
        if data_range is None:
            raise AnalyticsNotFound("There are no conversations yet: import some, or give start and end.")
        first = data_range[0] if first is None else first
        last = data_range[1] if last is None else last
    return store.analytics(make_bins(first, last, window_seconds))
