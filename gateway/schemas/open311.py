"""Open311 GeoReport v2 (GW-3): the spec's parameters and answers as schemas.

Input is lenient the way the spec's clients expect (a parameter the spec does
not know is ignored) but every value is checked like any other appeal's, and
every standard field is kept as sent: location (``lat``/``long``,
``address_string``, ``address_id``), contact (``first_name``, ``last_name``,
``email``, ``phone``, all optional as in the spec) and origin (``device_id``,
``account_id``).
"""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from kernel.fields import Answer
from kernel.validators import CreditCode, Phone

from . import Code, Text, Timestamp


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


def _doc(description, **more):
    return {"description": description, **more}


class RequestIn(_Lenient):
    """POST /open311/v2/requests (form-encoded, as the spec says; JSON accepted too)."""
    api_key = Text(load_only=True, metadata=_doc("an API key (or send X-API-Key / a bearer token)"))
    jurisdiction_id = Text(validate=validate.Length(max=100), metadata=_doc(
        "accepted and ignored: this server serves one county", example="demo"))
    service_code = Code(required=True, metadata=_doc("our category code", example="permit"))
    description = Text(required=True, not_blank=True, validate=validate.Length(1, 4000),
                       metadata=_doc("the request in full; kept and returned exactly as sent",
                                     example="营业执照变更迟迟未办"))
    first_name = Text(validate=validate.Length(max=50), metadata=_doc(
        "the submitter's given name (名); optional", example="明"))
    last_name = Text(validate=validate.Length(max=50), metadata=_doc(
        "the submitter's family name (姓); optional", example="张"))
    phone = Phone(metadata=_doc("the submitter's phone; optional; never in an answer",
                                example="13912340001"))
    email = fields.Email(validate=validate.Length(max=200), metadata=_doc(
        "the submitter's e-mail; optional; never in an answer", example="zhang@example.cn"))
    address_string = Text(validate=validate.Length(1, 300), metadata=_doc(
        "the location as an address (one of lat & long, address_string, address_id is "
        "required)", example="红石林镇老街 8 号"))
    address_id = Text(validate=validate.Length(1, 100), metadata=_doc(
        "the location as an address id of the county's address register", example="433126-0001"))
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90), metadata=_doc(
        "latitude (WGS84), with long", example=28.61))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180), metadata=_doc(
        "longitude (WGS84), with lat", example=109.95))
    device_id = Text(validate=validate.Length(1, 200), metadata=_doc(
        "the submitting device's id; kept", example="kiosk-7"))
    account_id = Text(validate=validate.Length(1, 200), metadata=_doc(
        "the submitter's account in the client's system; kept and returned on POST",
        example="u-1024"))
    media_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2000),
                           metadata=_doc("a photo or document: an http(s) address"))
    enterprise_code = CreditCode(data_key="attribute[enterprise_code]", metadata=_doc(
        "the enterprise's unified social credit code (统一社会信用代码); required unless the "
        "credential is an enterprise's token", example="91433126MA4L00010B"))
    town = Code(data_key="attribute[town]", required=True,
                metadata=_doc("town code (see the service definition)", example="hongshi"))
    title = Text(data_key="attribute[title]", validate=validate.Length(1, 200),
                 metadata=_doc("a one-line title; default: the start of the description"))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _who_and_where(self, data, original, **kwargs):
        errors = {}
        given = original if isinstance(original, dict) else {}
        if self.context["caller"].role != "enterprise" \
                and "attribute[enterprise_code]" not in given:
            errors["attribute[enterprise_code]"] = ["Missing data for required field."]
        # The spec: a location is required — lat & long, address_string or address_id.
        for one, other in (("lat", "long"), ("long", "lat")):
            if one in given and other not in given:
                errors[other] = [f"required with {one}"]
        if not any(k in given for k in ("lat", "long", "address_string", "address_id")):
            errors["address_string"] = [
                "a location is required: lat & long, address_string or address_id"]
        if errors:
            raise ValidationError(errors)


class ServicesQuery(_Lenient):
    jurisdiction_id = Text(validate=validate.Length(max=100), metadata=_doc("accepted, ignored"))


class RequestQuery(ServicesQuery):
    api_key = Text(load_only=True, metadata=_doc("an API key (or send X-API-Key / a bearer token)"))


class RequestsQuery(RequestQuery):
    """GET /open311/v2/requests: the spec's filters (comma-separated lists)."""
    service_request_id = Text(validate=validate.Regexp(r"^\d{1,18}(,\d{1,18}){0,49}$",
                                                       error="up to 50 ids, comma-separated"))
    service_code = Text(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}(,[A-Za-z0-9_.-]{1,32}){0,9}$",
                                                 error="up to 10 codes, comma-separated"))
    start_date = Timestamp()
    end_date = Timestamp()
    status = Text(validate=validate.Regexp(r"^(open|closed)(,(open|closed))?$",
                                           error="open, closed or open,closed"))


# -- answers (documentation of the JSON shapes; XML carries the same fields) -------------

class Service(Answer):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(Answer):
    key: str
    name: str


class Attribute(Answer):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(Answer):
    service_code: str
    attributes: list[Attribute]


class ServiceRequest(Answer):
    service_request_id: str
    status: str = _doc("open | closed")
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str
    address_id: str
    zipcode: str
    lat: float | None
    long: float | None
    media_url: str


class RequestCreated(Answer):
    service_request_id: str
    service_notice: str
    account_id: str | None


class Error(Answer):
    code: int
    description: str
