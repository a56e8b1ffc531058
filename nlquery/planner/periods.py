"""Date ranges named in a question ("yesterday", "last week", "in March", "since
2026-02-14"), as ``[start, end)`` days relative to today, for the rules planner.

Weeks start on Monday (ISO 8601); "this week/month/year" run up to and including today.
(Stating these dates in the LLM prompt was measured and made a 1.5B model worse: it
ignored them and mixed their numbers into its own date arithmetic.)
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import NamedTuple

from nlquery.errors import QuestionNotAnswerable

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))


class Period(NamedTuple):
    """A range named in a question: the words (``phrase``) and ``[start, end)`` (None: open)."""

    phrase: str
    start: dt.date | None
    end: dt.date | None


def find_period(text: str, today: dt.date) -> Period | None:
    """The first date range ``text`` names, or None. A range reaching before the
    calendar starts begins on its first day; a date that does not exist ("since
    2026-02-30", "in 0000") is :class:`QuestionNotAnswerable`, never a filter dropped."""
    text = " ".join(text.lower().split())
    tomorrow = today + dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    fixed = [
        ("today", today, tomorrow),
        ("yesterday", today - dt.timedelta(days=1), today),
        ("this week", week_start, tomorrow),
        ("last week", week_start - dt.timedelta(days=7), week_start),
        ("this month", month_start, tomorrow),
        ("last month", _add_months(month_start, -1), month_start),
        ("this year", today.replace(month=1, day=1), tomorrow),
        ("last year", dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
    ]
    for phrase, start, end in fixed:
        if re.search(rf"\b{phrase}\b", text):
            return Period(phrase, start, end)
    match = re.search(r"\b(?:last|past|previous)\s+(\d{1,4})\s+(day|week|month|year)s?\b", text)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        try:
            if unit == "day":
                start = today - dt.timedelta(days=count - 1)
            elif unit == "week":
                start = today - dt.timedelta(days=7 * count - 1)
            else:
                start = _add_months(today, -count * (1 if unit == "month" else 12)) + dt.timedelta(days=1)
        except (ValueError, OverflowError):  # "last 3000 years": before the calendar starts
            start = dt.date.min
        return Period(match.group(0), start, tomorrow)
    match = re.search(rf"\bsince\s+({_MONTH_NAMES})(?:\s+(\d{{4}}))?\b", text)
    if match:
        return Period(match.group(0), _month(match, today), None)
    match = re.search(r"\bsince\s+(\d{4})-(\d{2})-(\d{2})\b", text)
    if match:
        try:
            return Period(match.group(0), dt.date(*map(int, match.groups())), None)
        except ValueError:  # since 2026-02-30
            raise QuestionNotAnswerable(f"{match.group(0).split()[-1]} is not a date") from None
    match = re.search(rf"\bin\s+({_MONTH_NAMES})(?:\s+(\d{{4}}))?\b", text)
    if match:
        start = _month(match, today)
        return Period(match.group(0), start, _add_months(start, 1))
    match = re.search(r"\b(?:in|during)\s+(\d{4})\b", text)
    if match:
        year = int(match.group(1))
        if year < 1:
            raise QuestionNotAnswerable(f"there is no year {match.group(1)}")
        return Period(match.group(0), dt.date(year, 1, 1), dt.date(year + 1, 1, 1) if year < 9999 else None)
    return None


def parse_period(text: str, today: dt.date) -> tuple[dt.date | None, dt.date | None] | None:
    """``[start, end)`` of a date range named in ``text``, or None."""
    period = find_period(text, today)
    return None if period is None else (period.start, period.end)


def _month(match: re.Match[str], today: dt.date) -> dt.date:
    """The first day of the month a ``(month name)(year)?`` match names: without a year,
    the latest such month up to today."""
    month = MONTHS[match.group(1)]
    year = int(match.group(2)) if match.group(2) else (today.year if month <= today.month else today.year - 1)
    return dt.date(year, month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))
