"""Working days (APP-4) pinned by exact values: the operator's schedule file and
its refusals, the fallback for a year nobody knows, the year edges of the
working-day table, and the instants (end of day in Shanghai, naive vs aware).

Expected values are the official schedules (国务院办公厅 notices), worked out by
hand, not read back from the code under test."""
import datetime as dt
import json
import locale
import logging
import time

import pytest

from kernel.calendar import HolidaySchedule, WorkingCalendar, _PACKAGE_YEARS, to_utc, utcnow

D = dt.date
UTC = dt.timezone.utc
WARNING_2031 = ("no holiday schedule for 2031: counting weekends only; "
                "load the State Council notice as config/holidays/2031.json")


def write(tmp_path, data, name="2027.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def server_not_in_utc(monkeypatch):
    """The process's local zone is New York: a result that silently used the
    server's zone instead of UTC or Shanghai would show."""
    monkeypatch.setenv("TZ", "EST5")  # POSIX form: needs no zoneinfo files
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def server_in_c_locale():
    """A container started with LANG=C: text read without an explicit encoding is ASCII."""
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    yield
    locale.setlocale(locale.LC_CTYPE, saved)


# -- the operator's schedule file ----------------------------------------------

def test_schedule_file_is_read_as_utf8_whatever_the_server_locale(tmp_path, server_in_c_locale):
    # rule: APP-4
    # the notice's number (文号) is Chinese: an ASCII read would refuse the whole file
    path = write(tmp_path, {"year": 2027, "source": "国办发明电〔2026〕N号",
                            "holidays": ["2027-01-01"]})
    assert HolidaySchedule.from_file(path).holidays == {D(2027, 1, 1)}


def test_schedule_file_expands_ranges_single_dates_and_open_ranges_exactly(tmp_path):
    # rule: APP-4
    path = write(tmp_path, {
        "year": "2027",  # a string year is read as a number
        "source": "国办发明电〔2026〕N号",  # Chinese text: the file is read as UTF-8
        "holidays": [
            {"from": "2027-02-06", "to": "2027-02-09"},  # inclusive, every day
            "2027-04-05",                              # a single date
            {"from": "2027-05-03"},                    # a range without "to": one day
        ],
        "workdays": ["2027-01-30", {"from": "2027-02-20", "to": "2027-02-20"}],
    })
    sched = HolidaySchedule.from_file(path)
    assert sched.year == 2027
    assert sched.holidays == {D(2027, 2, 6), D(2027, 2, 7), D(2027, 2, 8), D(2027, 2, 9),
                              D(2027, 4, 5), D(2027, 5, 3)}
    assert sched.workdays == {D(2027, 1, 30), D(2027, 2, 20)}


def test_schedule_file_may_leave_out_holidays_or_workdays(tmp_path):
    # rule: APP-4
    only_workdays = HolidaySchedule.from_file(write(tmp_path, {"year": 2027, "workdays": ["2027-01-30"]}))
    assert only_workdays.holidays == frozenset()
    assert only_workdays.workdays == {D(2027, 1, 30)}
    only_holidays = HolidaySchedule.from_file(write(tmp_path, {"year": 2027, "holidays": ["2027-01-01"]}))
    assert only_holidays.holidays == {D(2027, 1, 1)}
    assert only_holidays.workdays == frozenset()


def test_schedule_file_refuses_a_range_that_ends_before_it_starts_naming_file_and_item(tmp_path):
    # rule: APP-4
    path = write(tmp_path, {"year": 2027, "holidays": [{"from": "2027-10-07", "to": "2027-10-01"}]})
    with pytest.raises(ValueError) as err:
        HolidaySchedule.from_file(path)
    assert str(err.value) == (f"{path}: range ends before it starts: "
                              "{'from': '2027-10-07', 'to': '2027-10-01'}")


def test_schedule_file_refuses_a_date_of_another_year_naming_file_date_and_year(tmp_path):
    # rule: APP-4
    path = write(tmp_path, {"year": 2027, "workdays": ["2028-01-01"]})
    with pytest.raises(ValueError) as err:
        HolidaySchedule.from_file(path)
    assert str(err.value) == f"{path}: 2028-01-01 is not in 2027"
    # a range running over New Year is refused at its first day outside the year
    path = write(tmp_path, {"year": 2027, "holidays": [{"from": "2027-12-31", "to": "2028-01-02"}]})
    with pytest.raises(ValueError) as err:
        HolidaySchedule.from_file(path)
    assert str(err.value) == f"{path}: 2028-01-01 is not in 2027"


def test_operator_year_weekends_stay_off_unless_listed_as_make_up_days(tmp_path):
    # rule: APP-4
    write(tmp_path, {"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2027-01-09"]})
    cal = WorkingCalendar.from_dir(tmp_path)
    assert cal.is_working_day(D(2027, 1, 9))  # Saturday, listed: a make-up working day
    assert not cal.is_working_day(D(2027, 1, 16))  # Saturday, not listed
    assert not cal.is_working_day(D(2027, 1, 17))  # Sunday, not listed
    assert cal.is_working_day(D(2027, 1, 15))  # Friday, not listed
    assert not cal.is_working_day(D(2027, 1, 1))  # Friday, a holiday
    # Sat 9 Jan counts: the 7th working day after Fri 1 Jan is Mon 11 Jan, not Tue 12 Jan
    assert cal.add_working_days(D(2027, 1, 1), 7) == D(2027, 1, 11)


def test_operator_file_wins_over_the_package_for_its_year(tmp_path):
    # rule: APP-4
    # an (odd) 2026 file listing nothing: 1 Oct 2026 (a Thursday) works, Sun 20 Sep does not
    write(tmp_path, {"year": 2026}, name="2026.json")
    cal = WorkingCalendar.from_dir(tmp_path)
    assert cal.is_working_day(D(2026, 10, 1))
    assert not cal.is_working_day(D(2026, 9, 20))
    assert not WorkingCalendar().is_working_day(D(2026, 10, 1))  # the package: National Day


def test_from_dir_without_a_folder_loads_nothing(tmp_path):
    # rule: APP-4
    (tmp_path / "2027.txt").write_text("not a schedule", encoding="utf-8")
    for path in (None, "", tmp_path / "missing", tmp_path):
        cal = WorkingCalendar.from_dir(path)
        assert cal.known_years() == sorted(_PACKAGE_YEARS), path
        assert cal.known_years()[0] == 2004 and cal.known_years()[-1] == 2026


# -- a year nobody knows -------------------------------------------------------

def test_unknown_year_warns_once_with_the_year_and_the_file_to_load(caplog):
    # rule: APP-4
    cal = WorkingCalendar()
    with caplog.at_level(logging.WARNING, logger="kernel.calendar"):
        assert cal.is_working_day(D(2031, 10, 1))  # Wednesday: National Day unknown
        assert not cal.is_working_day(D(2031, 10, 4))  # Saturday
        assert not cal.is_working_day(D(2031, 10, 5))  # Sunday
        assert cal.is_working_day(D(2031, 10, 3))  # Friday
    assert [r.getMessage() for r in caplog.records] == [WARNING_2031]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kernel.calendar"):
        assert cal.is_working_day(D(2032, 1, 1))  # another unknown year: its own warning
    assert [r.getMessage() for r in caplog.records] == [WARNING_2031.replace("2031", "2032")]


def test_crossing_into_the_first_year_the_package_does_not_know(caplog):
    # rule: APP-4
    cal = WorkingCalendar()
    with caplog.at_level(logging.WARNING, logger="kernel.calendar"):
        # Thu 31 Dec 2026 → Fri 1 Jan 2027 (no schedule: weekends only), Mon 4 Jan
        assert cal.add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)
        assert cal.add_working_days(D(2026, 12, 31), 2) == D(2027, 1, 4)
        assert cal.add_working_days(D(2027, 1, 4), -2) == D(2026, 12, 31)
    assert [r.getMessage() for r in caplog.records] == [WARNING_2031.replace("2031", "2027")]


def test_counting_inside_known_years_warns_about_no_year(caplog):
    # rule: APP-4
    # Loading a year the answer does not need would warn about it (2003, 2027: unknown)
    # and send the operator after a schedule nobody uses.
    with caplog.at_level(logging.WARNING, logger="kernel.calendar"):
        # the first working day of 2004 (1 Jan off): the table's very first entry
        assert WorkingCalendar().add_working_days(D(2004, 1, 5), -1) == D(2004, 1, 2)
        # 2005 opens with 1–3 Jan off: three back from Tue 4 Jan is Wed 29 Dec 2004
        assert WorkingCalendar().add_working_days(D(2005, 1, 4), -3) == D(2004, 12, 29)
        # 2026 opens with 1–3 Jan off and Sun 4 Jan a make-up day
        assert WorkingCalendar().add_working_days(D(2025, 12, 30), 3) == D(2026, 1, 5)
        assert WorkingCalendar().add_working_days(D(2026, 1, 5), -1) == D(2026, 1, 4)
        assert WorkingCalendar().add_working_days(D(2026, 1, 5), -2) == D(2025, 12, 31)
    assert caplog.records == []


# -- the table ----------------------------------------------------------------

def test_counts_over_a_whole_year_between_two_others():
    # rule: APP-4
    # 2025: 261 weekdays − 18 weekday holidays + 5 make-up days = 248 working days;
    # asked first about 2024 and 2026, the table must fill in 2025 in between.
    cal = WorkingCalendar()
    assert cal.working_days_between(D(2024, 12, 31), D(2026, 1, 1)) == 248
    assert cal.working_days_between(D(2026, 1, 1), D(2024, 12, 31)) == -248
    assert cal.add_working_days(D(2024, 12, 31), 248) == D(2025, 12, 31)
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 1, 5), -2) == D(2025, 12, 31)
    assert cal.working_days_between(D(2023, 12, 31), D(2024, 1, 2)) == 1  # 1 Jan 2024 off
    assert cal.working_days_between(D(2024, 12, 31), D(2025, 12, 31)) == 248


def test_zero_working_days_is_the_day_itself_even_a_holiday():
    # rule: APP-4
    cal = WorkingCalendar()
    assert cal.add_working_days(D(2026, 10, 1), 0) == D(2026, 10, 1)
    assert cal.working_days_between(D(2026, 10, 1), D(2026, 10, 1)) == 0


# -- instants -----------------------------------------------------------------

def test_end_of_day_is_235959999999_in_shanghai_given_in_utc(server_not_in_utc):
    # rule: APP-4
    end = WorkingCalendar.end_of_day(D(2026, 10, 8))
    assert end == dt.datetime(2026, 10, 8, 15, 59, 59, 999999, tzinfo=UTC)
    assert end.utcoffset() == dt.timedelta(0)
    assert end.tzinfo is UTC


def test_to_utc_reads_naive_values_as_utc_and_converts_aware_ones(server_not_in_utc):
    # rule: APP-4
    naive = to_utc(dt.datetime(2026, 9, 30, 16, 0))
    assert naive.tzinfo is UTC and naive == dt.datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    aware = to_utc(dt.datetime(2026, 10, 1, 0, 30, tzinfo=shanghai))
    assert aware.tzinfo is UTC and aware.replace(tzinfo=None) == dt.datetime(2026, 9, 30, 16, 30)


def test_local_date_and_deadline_from_a_naive_utc_instant(server_not_in_utc):
    # rule: APP-4
    cal = WorkingCalendar()
    # naive 16:00 = 16:00 UTC = midnight 1 Oct in Shanghai (not 30 Sep, not 11:00 in New York)
    assert cal.local_date(dt.datetime(2026, 9, 30, 16, 0)) == D(2026, 10, 1)
    assert cal.local_date(dt.datetime(2026, 9, 30, 15, 59, 59)) == D(2026, 9, 30)
    # from Thu 1 Oct (a holiday): 8 Oct, 9 Oct, Sat 10 Oct (make-up) → the third is 10 Oct
    due = cal.deadline(dt.datetime(2026, 9, 30, 16, 0), 3)
    assert due == dt.datetime(2026, 10, 10, 15, 59, 59, 999999, tzinfo=UTC)
    assert due.utcoffset() == dt.timedelta(0)


def test_shift_keeps_the_shanghai_time_of_day_forwards_and_backwards(server_not_in_utc):
    # rule: APP-4
    cal = WorkingCalendar()
    # 23:30 UTC on 29 Sep is 07:30 on Wed 30 Sep in Shanghai: one working day on is Thu 8 Oct
    start = dt.datetime(2026, 9, 29, 23, 30, tzinfo=UTC)
    ahead = cal.shift(start, 1)
    assert ahead == dt.datetime(2026, 10, 7, 23, 30, tzinfo=UTC)
    assert ahead.tzinfo is UTC
    # the same instant given naive (stored as UTC) shifts the same way
    assert cal.shift(dt.datetime(2026, 9, 29, 23, 30), 1) == ahead
    # backwards over the holiday: 07:30 Thu 8 Oct Shanghai − 1 = 07:30 Wed 30 Sep
    back = cal.shift(ahead, -1)
    assert back == start and back.tzinfo is UTC
    # − 2 from Mon 12 Oct 07:30 Shanghai: Sat 10 Oct (make-up), Fri 9 Oct
    assert cal.shift(dt.datetime(2026, 10, 11, 23, 30, tzinfo=UTC), -2) == dt.datetime(
        2026, 10, 8, 23, 30, tzinfo=UTC)
    assert cal.shift(start, 0) == start


def test_utcnow_is_aware_utc_now(server_not_in_utc):
    # rule: APP-4
    # a naive "now" compared with an aware deadline raises; a local one is hours off
    before = time.time()
    now = utcnow()
    assert now.tzinfo is UTC
    assert before - 1 <= now.timestamp() <= time.time() + 1
