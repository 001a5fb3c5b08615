"""Reading the market-regulation registry's CSV export into directory rows.

Pure: text in, (rows, errors) out. A bad row is reported by line and column
and left out; every other row loads. Headers may be the registry's Chinese
ones or the English field names; columns not listed here are ignored (the
registry exports many more).
"""
import csv
import io
from dataclasses import dataclass, field

from marshmallow import ValidationError

from kernel.validators import normalise_credit_code, normalise_phone

from .domain import SIZES, SIZES_ZH

MAX_ROWS = 100_000

# field → accepted headers (the first is the one docs/inspections.md shows)
COLUMNS = {
    "credit_code": ("统一社会信用代码", "credit_code", "uscc"),
    "name": ("企业名称", "name", "名称", "市场主体名称"),
    "town": ("所属乡镇", "town", "乡镇"),
    "industry": ("行业", "industry", "所属行业"),
    "size": ("企业规模", "size", "规模"),
    "above_scale": ("规上企业", "above_scale", "规模以上企业"),
    "key_investment": ("招商引资重点企业", "key_investment"),
    "key_project": ("重点项目", "key_project"),
    "contact_name": ("联系人", "contact_name"),
    "contact_phone": ("联系电话", "contact_phone"),
    "address": ("住所", "address", "地址"),
}
REQUIRED = ("credit_code", "name")
FIELDS = tuple(COLUMNS)

_TRUE = {"是", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "n", "no", "false", "0", ""}
_SIZE_ALIASES = {**{s: s for s in SIZES}, **{zh: s for s, zh in SIZES_ZH.items()},
                 **{zh[:-1]: s for s, zh in SIZES_ZH.items()}}  # 大型 / 大


class HeaderError(ValueError):
    pass


@dataclass
class Parsed:
    rows: list = field(default_factory=list)  # (line, {field: value})
    errors: list = field(default_factory=list)  # {line, column, field, message}
    total: int = 0


def parse(text: str, towns: dict) -> Parsed:
    """``towns``: code → {name}; a town may be given by code or by name."""
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise HeaderError("the file is empty") from None
    columns = _map_header(header)
    town_by_name = {t["name"]: code for code, t in towns.items()}
    out = Parsed()
    seen = {}
    last_line = reader.line_num
    for record in reader:
        line = last_line + 1  # where the record starts (quoted fields may span lines)
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        out.total += 1
        if out.total > MAX_ROWS:
            raise HeaderError(f"more than {MAX_ROWS} rows; split the file")
        values, errors = _read_row(record, header, columns, towns, town_by_name)
        if len(record) > len(header):
            errors.setdefault("_row", f"{len(record)} cells but {len(header)} headers")
        code = values.get("credit_code")
        if code in seen and "credit_code" not in errors:
            errors["credit_code"] = f"the same credit code as line {seen[code]}"
        if code and not errors:
            seen[code] = line  # only a row that loads claims its code
        if errors:
            for fname, message in errors.items():
                out.errors.append({"line": line, "column": _column_label(fname, header, columns),
                                   "field": fname, "message": message})
        else:
            out.rows.append((line, values))
    return out


def _map_header(header):
    columns = {}
    lookup = {alias.lower(): fname for fname, aliases in COLUMNS.items() for alias in aliases}
    for index, name in enumerate(header):
        fname = lookup.get(name.strip().lower())
        if fname and fname not in columns:
            columns[fname] = index
    missing = [f"{COLUMNS[f][0]} ({f})" for f in REQUIRED if f not in columns]
    if missing:
        raise HeaderError(f"line 1: missing column {', '.join(missing)}")
    return columns


def _column_label(fname, header, columns):
    if fname in columns:
        return header[columns[fname]].strip()
    return fname


def _read_row(record, header, columns, towns, town_by_name):
    values, errors = {}, {}

    def cell(fname):
        index = columns.get(fname)
        if index is None or index >= len(record):
            return ""
        return record[index].strip()

    try:
        values["credit_code"] = normalise_credit_code(cell("credit_code"))
    except ValidationError as exc:
        errors["credit_code"] = _msg(exc) if cell("credit_code") else "is empty"
    name = cell("name")
    if not name:
        errors["name"] = "is empty"
    elif len(name) > 200:
        errors["name"] = "longer than 200 characters"
    values["name"] = name

    town = cell("town")
    if town and town not in towns:
        if town in town_by_name:
            town = town_by_name[town]
        else:
            errors["town"] = f"unknown town {town!r}"
    values["town"] = town or None

    industry = cell("industry")
    if len(industry) > 64:
        errors["industry"] = "longer than 64 characters"
    values["industry"] = industry or None

    size = cell("size")
    if size and size.lower() not in _SIZE_ALIASES:
        errors["size"] = f"unknown size {size!r}; one of {', '.join(SIZES)} (大型/中型/小型/微型)"
    values["size"] = _SIZE_ALIASES.get(size.lower()) if size else None

    for flag in ("above_scale", "key_investment", "key_project"):
        raw = cell(flag).lower()
        if raw in _TRUE:
            values[flag] = True
        elif raw in _FALSE:
            values[flag] = False
        else:
            errors[flag] = f"not a yes/no value {cell(flag)!r} (是/否)"

    contact = cell("contact_name")
    if len(contact) > 50:
        errors["contact_name"] = "longer than 50 characters"
    values["contact_name"] = contact or None
    phone = cell("contact_phone")
    values["contact_phone"] = None
    if phone:
        try:
            values["contact_phone"] = normalise_phone(phone)
        except ValidationError as exc:
            errors["contact_phone"] = _msg(exc)
    address = cell("address")
    if len(address) > 300:
        errors["address"] = "longer than 300 characters"
    values["address"] = address or None
    return values, errors


def _msg(exc):
    messages = exc.messages
    if isinstance(messages, list):
        return "; ".join(str(m) for m in messages)
    return str(messages)
