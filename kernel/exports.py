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


# -- exports as jobs: written page by page, kept in the database, fetched in chunks --------
import csv  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import eventlet  # noqa: E402
from openpyxl import Workbook  # noqa: E402

from kernel.config import ROOT, setting  # noqa: E402

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# One stored chunk and one RPC reply of a download: small, whatever the file's size.
CHUNK_BYTES = 256 * 1024
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


def export_dir(config) -> Path:
    """Scratch space for a file being written (an XLSX is a zip, finished only at
    the end). Local to the instance and emptied by the job itself: the finished
    file lives in the owning service's database, so any replica serves it."""
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


def scratch_file(directory, suffix):
    """A fresh file name in ``directory`` for one job's writing."""
    fd, name = tempfile.mkstemp(prefix="export-", suffix=suffix, dir=str(directory))
    os.close(fd)
    return Path(name)


def file_chunks(path, size=CHUNK_BYTES):
    """The file's bytes, ``size`` at a time (one chunk in memory at once)."""
    with open(path, "rb") as f:
        while True:
            data = f.read(size)
            if not data:
                return
            yield data
            eventlet.sleep(0)


def chunk_at(offset, size=CHUNK_BYTES):
    """``(seq, skip)``: which stored chunk holds byte ``offset``, and where in it."""
    offset = max(0, int(offset))
    return offset // size, offset % size


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
