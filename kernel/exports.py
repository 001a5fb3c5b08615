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


def safe_cell(value):
    """The value as a spreadsheet may hold it; numbers and None unchanged."""
    if not isinstance(value, str):
        return value
    value = _NOT_XML.sub("", value)
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
