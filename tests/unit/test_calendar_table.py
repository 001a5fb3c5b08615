"""The working-day table (issue #16): the bisect over precomputed working days
gives exactly what walking the calendar day by day gives (APP-4)."""
import datetime as dt
import random

from kernel.calendar import HolidaySchedule, WorkingCalendar


def walk_add(cal, day, n):
    """The definition, one day at a time."""
    step = 1 if n >= 0 else -1
    remaining, d = abs(n), day
    while remaining:
        d += dt.timedelta(days=step)
        if cal.is_working_day(d):
            remaining -= 1
    return d


def walk_between(cal, start, end):
    if end < start:
        return -walk_between(cal, end, start)
    n, d = 0, start
    while d < end:
        d += dt.timedelta(days=1)
        n += cal.is_working_day(d)
    return n


def test_table_matches_walking_across_holidays_years_and_both_directions():
    # rule: APP-4
    rng = random.Random(16)
    cal = WorkingCalendar()
    for _ in range(3000):
        day = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 22))
        n = rng.choice([0, 1, -1, 2, 3, 5, -5, 10, 15, -10, 30, -30, 400, -400])
        assert cal.add_working_days(day, n) == walk_add(cal, day, n), (day, n)
        other = day + dt.timedelta(days=rng.randrange(-60, 60))
        assert cal.working_days_between(day, other) == walk_between(cal, day, other), (day, other)


def test_table_uses_an_operators_schedule_and_year_edges():
    # rule: APP-4
    # a year the package does not know, given by an operator: 2 Jan off, Sat 3 Jan on
    sched = HolidaySchedule(2031, [dt.date(2031, 1, 2)], [dt.date(2031, 1, 4)])
    cal = WorkingCalendar([sched])
    assert cal.add_working_days(dt.date(2030, 12, 31), 1) == dt.date(2031, 1, 1)
    assert cal.add_working_days(dt.date(2031, 1, 1), 1) == dt.date(2031, 1, 3)
    assert cal.add_working_days(dt.date(2031, 1, 3), 1) == dt.date(2031, 1, 4)  # the make-up Saturday
    assert cal.add_working_days(dt.date(2031, 1, 6), -3) == dt.date(2031, 1, 1)
    for day in (dt.date(2030, 12, 20) + dt.timedelta(days=i) for i in range(30)):
        for n in (-7, -1, 1, 7):
            assert cal.add_working_days(day, n) == walk_add(cal, day, n)
