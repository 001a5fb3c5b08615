"""No personal data in what a failed statement reports (issue 13: SQLAlchemy's
hide_parameters). A real SQLite database; no mock."""
import logging

import pytest
from sqlalchemy import text

from kernel.db import make_engine

PHONE = "13912340077"


@pytest.mark.parametrize("url", ["sqlite://"])
def test_a_failed_statement_never_carries_its_parameters(url, caplog):
    # rule: GW-2  (logs never hold personal data)
    engine = make_engine(url, echo=False)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE person (phone VARCHAR(20) UNIQUE)"))
        c.execute(text("INSERT INTO person VALUES (:p)"), {"p": PHONE})
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Exception) as failed:
            with engine.begin() as c:
                c.execute(text("INSERT INTO person VALUES (:p)"), {"p": PHONE})
        logging.getLogger("test").exception("the insert failed: %s", failed.value)
    assert PHONE not in str(failed.value)
    assert PHONE not in caplog.text
    engine.dispose()
