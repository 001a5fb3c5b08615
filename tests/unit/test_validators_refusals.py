"""Identifiers from outside are refused with a message that says what is wrong,
through the schema field types every payload uses (APP-1)."""
import pytest
from marshmallow import Schema, ValidationError

from kernel.validators import CreditCode, Phone, normalise_credit_code, normalise_phone


class Contact(Schema):
    code = CreditCode()
    phone = Phone()


def messages(fn, value):
    with pytest.raises(ValidationError) as err:
        fn(value)
    return err.value.messages


def test_credit_codes_and_phones_refused_with_the_reason():
    # rule: APP-1
    assert messages(normalise_credit_code, "91433126MA4L00010C") == [
        "not a valid unified social credit code (The number's checksum or check digit is "
        "invalid.)"]
    assert messages(normalise_credit_code, "9143") == [
        "not a valid unified social credit code (The number has an invalid length.)"]
    assert messages(normalise_phone, "phone") == ["not a phone number"]
    assert messages(normalise_phone, "12345") == ["not a valid phone number"]


def test_the_field_types_normalise_and_refuse():
    # rule: APP-1
    assert Contact().load({"code": "91433126ma4l00010b", "phone": "139 1234 0001"}) == {
        "code": "91433126MA4L00010B", "phone": "+8613912340001"}
    with pytest.raises(ValidationError) as err:
        Contact().load({"code": "91433126MA4L00010C", "phone": 13912340001})
    assert set(err.value.messages) == {"code", "phone"}
    assert err.value.messages["phone"] == ["Not a valid string."]
