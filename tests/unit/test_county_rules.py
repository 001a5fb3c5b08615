"""kernel.rules.CountyRules: the county and its calendar at setup, the
service's settings in ``configure``, its reference data in ``seed`` — one
transaction, and a second instance starting at the same moment is no error."""
import contextlib
import logging
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError

from kernel.db import Database
from kernel.rules import CountyRules


class FakeStore:
    def __init__(self):
        self.committed = []

    @contextlib.contextmanager
    def transaction(self):
        session = []
        yield session
        self.committed.extend(session)  # only when the block did not raise


class Seeding(CountyRules):
    def __init__(self, fail=None):
        self.fail = fail

    def configure(self, config):
        self.configured = config["X"]

    def seed(self, session):
        session.append("row")
        if self.fail:
            raise self.fail


def started(rules, config=None):
    db = Database("/nowhere")
    db.store = FakeStore()
    rules.container = SimpleNamespace(config=config or {}, dependencies=[rules, db],
                                      service_name="svc")
    rules.start()
    return db.store


def test_setup_reads_the_county_and_the_calendar_then_the_services_settings():
    rules = Seeding()
    rules.container = SimpleNamespace(config={"X": 7}, dependencies=[], service_name="svc")
    rules.setup()
    assert rules.profile.departments and rules.calendar is not None and rules.configured == 7
    assert rules.get_dependency(None) is rules


def test_seed_is_written_in_one_transaction():
    assert started(Seeding()).committed == ["row"]


def test_another_instance_having_seeded_it_is_no_error(caplog):
    with caplog.at_level(logging.INFO, logger="kernel.rules"):
        store = started(Seeding(fail=IntegrityError("insert", {}, Exception("unique"))))
    assert store.committed == []
    assert "svc: the reference data was written by another instance" in caplog.text


def test_any_other_failure_stops_the_start():
    with pytest.raises(RuntimeError):
        started(Seeding(fail=RuntimeError("disk full")))
