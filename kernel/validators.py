"""Identifiers that arrive from outside: credit codes and phone numbers."""
import phonenumbers
from marshmallow import ValidationError, fields
from stdnum.cn import uscc


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
