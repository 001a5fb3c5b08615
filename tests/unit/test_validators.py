"""Identifiers from outside: credit codes (GB 32100-2015) and phone numbers."""
import pytest
from marshmallow import ValidationError

from kernel.logs import mask_name, mask_phone_text
from kernel.validators import normalise_credit_code, normalise_phone


def test_credit_code_check_character_is_verified():
    # rule: APP-1
    assert normalise_credit_code("91433126MA4L00010B") == "91433126MA4L00010B"
    # typed in lower case, with spaces or full-width digits: normalised, not refused
    assert normalise_credit_code(" 91433126ma4l0001０b ") == "91433126MA4L00010B"
    for bad in ("91433126MA4L00010C", "91433126MA4L0001", "", "91433126MA4L00010I"):
        with pytest.raises(ValidationError):
            normalise_credit_code(bad)


def test_phone_numbers_are_checked_and_normalised():
    # rule: APP-1
    assert normalise_phone("139 1234 0001") == "+8613912340001"
    assert normalise_phone("0743-4622345").startswith("+86743")
    for bad in ("12345", "1391234000", "not a phone"):
        with pytest.raises(ValidationError):
            normalise_phone(bad)


def test_logs_mask_phones_and_names():
    assert mask_phone_text("call +8613912340001 or 13912340002") == "call +86139****0001 or 139****0002"
    assert mask_name("张三丰") == "张**"
