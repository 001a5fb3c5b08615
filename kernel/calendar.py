"""Chinese working days (工作日) in Asia/Shanghai time.

Weekends and public holidays are off; make-up working days (调休) are on.
Years the maintained ``chinesecalendar`` package knows come from it; an operator
can add a year from the State Council's notice as a JSON data file (see
``config/holidays/README.md``); a year known to neither counts weekends only and
logs a warning once.

Deadline convention (限时办结): "N working days from receipt" ends at the close
(23:59:59.999999 local) of the Nth working day *after* the day of receipt.
"""
import bisect
import datetime as dt
import json
import logging
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
_log = logging.getLogger(__name__)

_PACKAGE_YEARS = set()
for _d in list(chinese_calendar.holidays) + list(chinese_calendar.workdays):
    _PACKAGE_YEARS.add(_d.year)
# The package lists holidays; a year is "known" when it has holiday entries.
_PACKAGE_YEARS = {y for y in _PACKAGE_YEARS if any(d.year == y for d in chinese_calendar.holidays)}


class HolidaySchedule:
    """One year's official schedule: which dates are off, which weekend dates are on."""

    def __init__(self, year, holidays, workdays):
        self.year = year
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)

    @classmethod
    def from_file(cls, path):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        year = int(data["year"])

        def expand(items):
            out = set()
            for item in items:
                if isinstance(item, str):
                    item = {"from": item, "to": item}
                start = dt.date.fromisoformat(item["from"])
                end = dt.date.fromisoformat(item.get("to", item["from"]))
                if end < start:
                    raise ValueError(f"{path}: range ends before it starts: {item}")
                d = start
                while d <= end:
                    if d.year != year:
                        raise ValueError(f"{path}: {d} is not in {year}")
                    out.add(d)
                    d += dt.timedelta(days=1)
            return out

        return cls(year, expand(data.get("holidays", [])), expand(data.get("workdays", [])))


class WorkingCalendar:
    def __init__(self, schedules=()):
        self._schedules = {s.year: s for s in schedules}
        self._warned = set()
        # Working days as sorted ordinals over the contiguous years [_lo, _hi],
        # built a year at a time on first use: the arithmetic below is a
        # bisect instead of a day-by-day walk through chinese_calendar.
        self._lo = self._hi = None
        self._days = []

    @classmethod
    def from_dir(cls, path):
        """Load every ``*.json`` schedule in a folder (missing folder: none)."""
        schedules = []
        if path and os.path.isdir(path):
            for f in sorted(Path(path).glob("*.json")):
                schedules.append(HolidaySchedule.from_file(f))
        return cls(schedules)

    def known_years(self):
        return sorted(_PACKAGE_YEARS | set(self._schedules))

    def is_working_day(self, day: dt.date) -> bool:
        sched = self._schedules.get(day.year)
        if sched is not None:  # an operator's file wins over the package
            if day in sched.workdays:
                return True
            if day in sched.holidays:
                return False
            return day.weekday() < 5
        if day.year in _PACKAGE_YEARS:
            return chinese_calendar.is_workday(day)
        if day.year not in self._warned:
            self._warned.add(day.year)
            _log.warning(
                "no holiday schedule for %s: counting weekends only; "
                "load the State Council notice as config/holidays/%s.json",
                day.year, day.year)
        return day.weekday() < 5

    def _year_days(self, year):
        d, end, out = dt.date(year, 1, 1), dt.date(year, 12, 31), []
        while d <= end:
            if self.is_working_day(d):
                out.append(d.toordinal())
            d += dt.timedelta(days=1)
        return out

    def _cover(self, year):
        """Make the table reach ``year`` (contiguous with what it holds)."""
        if self._lo is None:
            self._lo = self._hi = year
            self._days = self._year_days(year)
            return
        if year < self._lo:
            before = []
            for y in range(year, self._lo):
                before += self._year_days(y)
            self._days = before + self._days
            self._lo = year
        elif year > self._hi:
            after = list(self._days)
            for y in range(self._hi + 1, year + 1):
                after += self._year_days(y)
            self._days = after  # a new list: a reader mid-bisect keeps the old one
            self._hi = year

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The nth working day after ``day`` (n < 0: before; n == 0: ``day`` itself)."""
        if n == 0:
            return day
        self._cover(day.year)
        o = day.toordinal()
        while True:
            days = self._days
            if n > 0:
                i = bisect.bisect_right(days, o) + n - 1
                if i < len(days):
                    return dt.date.fromordinal(days[i])
                self._cover(self._hi + 1)
            else:
                i = bisect.bisect_left(days, o) + n
                if i >= 0:
                    return dt.date.fromordinal(days[i])
                self._cover(self._lo - 1)

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        self._cover(start.year)
        self._cover(end.year)
        days = self._days
        return bisect.bisect_right(days, end.toordinal()) - bisect.bisect_right(days, start.toordinal())

    # -- instants -----------------------------------------------------------
    @staticmethod
    def local_date(instant: dt.datetime) -> dt.date:
        return to_utc(instant).astimezone(SHANGHAI).date()

    @staticmethod
    def end_of_day(day: dt.date) -> dt.datetime:
        """The last instant of ``day`` in Shanghai, as UTC."""
        local = dt.datetime.combine(day, dt.time.max, tzinfo=SHANGHAI)
        return local.astimezone(dt.timezone.utc)

    def deadline(self, start: dt.datetime, working_days: int) -> dt.datetime:
        """End of the nth working day after the local day of ``start``."""
        return self.end_of_day(self.add_working_days(self.local_date(start), working_days))

    def shift(self, instant: dt.datetime, working_days: int) -> dt.datetime:
        """The same local time of day, ``working_days`` working days later (or earlier)."""
        local = to_utc(instant).astimezone(SHANGHAI)
        day = self.add_working_days(local.date(), working_days)
        return dt.datetime.combine(day, local.timetz()).astimezone(dt.timezone.utc)


def to_utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:  # naive values are stored as UTC
        return instant.replace(tzinfo=dt.timezone.utc)
    return instant.astimezone(dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
