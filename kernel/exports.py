"""What every spreadsheet export shares: cells that are safe to open.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel and LibreOffice (OWASP "CSV injection"): such
text gets a leading apostrophe, so it shows as typed and never runs. XML 1.0
(inside every XLSX) cannot hold most control characters or lone surrogates;
they are dropped rather than let a row break the file.
"""
import re

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", text)


def safe_cell(value):
    """The value as a spreadsheet may hold it; numbers and None unchanged."""
    if not isinstance(value, str):
        return value
    value = xml_text(value)
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


# -- exports as jobs: written to a file page by page, fetched in chunks --------------
import csv  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

import eventlet  # noqa: E402
from openpyxl import Workbook  # noqa: E402

from kernel.config import ROOT, setting  # noqa: E402

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHUNK_BYTES = 256 * 1024  # one RPC reply of a download: small, whatever the file's size
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def export_dir(config) -> Path:
    path = Path(setting(config, "EXPORT_DIR") or ROOT / "var" / "exports")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_pages(path, fmt, header, pages, progress, sheet_title="export"):
    """Write ``header`` then every row of every page of ``pages`` (an iterator
    of row lists) to ``path``, each cell made safe; ``progress(rows_done)``
    after each page. Memory holds one page: CSV is written as it goes and
    openpyxl's write-only workbook keeps its rows on disk. Between pages the
    green thread yields, so the service keeps answering other calls."""
    done = 0
    if fmt == "csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel reads UTF-8
            writer = csv.writer(f)
            writer.writerow(header)
            for page in pages:
                writer.writerows([safe_cell(c) for c in row] for row in page)
                done += len(page)
                progress(done)
                eventlet.sleep(0)
        return done
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title)
    ws.append(header)
    for page in pages:
        for row in page:
            ws.append([safe_cell(c) for c in row])
        done += len(page)
        progress(done)
        eventlet.sleep(0)
    wb.save(path)
    return done


def read_chunk(path, offset, size=CHUNK_BYTES):
    """``size`` bytes of the file from ``offset`` (b"" past its end)."""
    with open(path, "rb") as f:
        f.seek(max(0, int(offset)))
        return f.read(size)


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
