"""What arrives from outside: storable text, credit codes and phone numbers."""
import re

import phonenumbers
from marshmallow import ValidationError, fields
from stdnum.cn import uscc


# Text no database, page or XML document can hold: lone surrogates (invalid
# Unicode: PostgreSQL and every UTF-8 encoder refuse them) and control
# characters (C0 but tab and newline, DEL, C1), which break XML and terminals.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"is not valid Unicode text (a lone surrogate U+{code:04X})"
    return f"must not contain control characters (U+{code:04X}); tab and newline are allowed"


def storable_text(data):
    """``data`` (JSON-like) with CRLF line breaks made LF, and the problems of
    every string in it by path ({field: [message]}, nested for lists and
    objects, as marshmallow reports them)."""
    if isinstance(data, str):
        data = data.replace("\r\n", "\n")
        problem = text_problem(data)
        return data, ([problem] if problem else None)
    if isinstance(data, dict):
        out, errors = {}, {}
        for key, value in data.items():
            if isinstance(key, str) and text_problem(key):
                errors[ascii(key)] = ["not a field name"]  # named so the answer can be encoded
                continue
            out[key], problem = storable_text(value)
            if problem:
                errors[key] = problem
        return out, (errors or None)
    if isinstance(data, list):
        out, errors = [], {}
        for index, value in enumerate(data):
            value, problem = storable_text(value)
            out.append(value)
            if problem:
                errors[index] = problem
        return out, (errors or None)
    return data, None


def normalise_credit_code(value: str) -> str:
    """Unified social credit code (统一社会信用代码, GB 32100-2015), check character verified."""
    try:
        return uscc.validate(value)
    except Exception as exc:  # stdnum raises several ValidationError subclasses
        raise ValidationError(f"not a valid unified social credit code ({exc.message if hasattr(exc, 'message') else exc})")


def normalise_phone(value: str) -> str:
    """A Chinese mobile or landline number, returned in E.164."""
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError("not a phone number")
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class CreditCode(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_credit_code(super()._deserialize(value, attr, data, **kwargs))


class Phone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_phone(super()._deserialize(value, attr, data, **kwargs))
