"""Working days (APP-4): weekends and holidays off, make-up days (调休) on."""
import datetime as dt
import json
import logging

import pytest

from kernel.calendar import HolidaySchedule, WorkingCalendar

D = dt.date


def test_national_day_week_and_its_make_up_days():
    # rule: APP-4
    cal = WorkingCalendar()
    # 2026: 1–7 Oct off; Sun 20 Sep and Sat 10 Oct are make-up working days.
    assert not any(cal.is_working_day(D(2026, 10, d)) for d in range(1, 8))
    assert cal.is_working_day(D(2026, 9, 20))
    assert cal.is_working_day(D(2026, 10, 10))
    assert not cal.is_working_day(D(2026, 10, 11))
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 9, 29), 5) == D(2026, 10, 12)
    assert cal.add_working_days(D(2026, 10, 8), -1) == D(2026, 9, 30)


def test_deadline_is_end_of_the_nth_working_day_in_shanghai():
    # rule: APP-4
    cal = WorkingCalendar()
    # 23:30 UTC on 29 Sep is already 30 Sep in Shanghai: counting starts from 30 Sep.
    start = dt.datetime(2026, 9, 29, 23, 30, tzinfo=dt.timezone.utc)
    due = cal.deadline(start, 3)
    assert due == dt.datetime(2026, 10, 10, 15, 59, 59, 999999, tzinfo=dt.timezone.utc)


def test_operator_schedule_file_for_a_year_the_package_does_not_know(tmp_path, caplog):
    # rule: APP-4
    (tmp_path / "2027.json").write_text(json.dumps({
        "year": 2027,
        "holidays": [{"from": "2027-01-01", "to": "2027-01-03"}, "2027-05-03"],
        "workdays": ["2027-01-09"],
    }), encoding="utf-8")
    cal = WorkingCalendar.from_dir(tmp_path)
    assert 2027 in cal.known_years()
    assert not cal.is_working_day(D(2027, 1, 1))  # a Friday, but a holiday
    assert cal.is_working_day(D(2027, 1, 9))  # a Saturday, but a make-up day
    assert not cal.is_working_day(D(2027, 5, 3))
    with caplog.at_level(logging.WARNING):
        assert cal.is_working_day(D(2027, 1, 4))
    assert not caplog.records  # a known year: no warning


def test_unknown_year_counts_weekends_only_and_warns(caplog):
    # rule: APP-4
    cal = WorkingCalendar()
    with caplog.at_level(logging.WARNING):
        assert cal.is_working_day(D(2031, 10, 1))  # a Wednesday; holidays unknown
        assert not cal.is_working_day(D(2031, 10, 4))  # a Saturday
    assert any("2031" in r.getMessage() for r in caplog.records)


def test_schedule_file_rejects_dates_of_another_year(tmp_path):
    (tmp_path / "2027.json").write_text(json.dumps({"year": 2027, "holidays": ["2028-01-01"]}))
    with pytest.raises(ValueError):
        HolidaySchedule.from_file(tmp_path / "2027.json")
