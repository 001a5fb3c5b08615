"""Exports of the ledger through the appeals service: no cell a spreadsheet
would run as a formula (issue 13). Real broker and database."""
import base64
import csv
import io

import pytest
from openpyxl import load_workbook

from services.appeals.service import AppealsService

pytestmark = pytest.mark.integration

# A lone carriage return never gets this far: the boundary refuses it (kernel.validators);
# kernel.exports.safe_cell still neutralises it (tests/unit).
ATTACKS = ["=HYPERLINK(\"http://evil.example\",\"点此\")", "+cmd|' /C calc'!A0", "-1+2", "@SUM(1)",
           "\t=1+1"]


@pytest.fixture
def appeals(start_service, db_factory):
    return start_service(AppealsService, DB_URL=db_factory("appeals"))


def test_csv_and_xlsx_cells_never_start_a_formula(appeals, rpc, callers):
    # rule: APP-8
    with rpc(callers["ent_a"]) as p:
        for title in ATTACKS:
            p.appeals.create_appeal({"channel": "mini_program", "category": "permit",
                                     "town": "hongshi", "title": title, "content": "内容",
                                     "contact_name": "张明", "contact_phone": "13912340001"})
    with rpc(callers["taskforce"]) as p:
        csv_out = p.appeals.export_appeals({"format": "csv"})
        xlsx_out = p.appeals.export_appeals({"format": "xlsx"})
    rows = list(csv.reader(io.StringIO(base64.b64decode(csv_out["content_base64"]).decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(base64.b64decode(xlsx_out["content_base64"]))).active
    xrows = [[c.value for c in r] for r in sheet.iter_rows()]
    for table in (rows[1:], xrows[1:]):
        # XML parsers read a carriage return as a line feed: compare alike
        titles = [r[6].replace("\r", "\n") for r in table]
        assert sorted(titles) == sorted("'" + t.replace("\r", "\n") for t in ATTACKS)
        for r in table:
            for cell in r:
                assert not (isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r")), r
