"""Open311 GeoReport v2 (GW-3): the spec's parameters and answers as schemas.

Input is lenient the way the spec's clients expect (parameters we do not use,
like ``device_id``, are accepted and ignored) but every value we do use is
checked like any other appeal's.
"""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

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
    jurisdiction_id = Text(validate=validate.Length(max=100), metadata=_doc("accepted, ignored"))
    service_code = Code(required=True, metadata=_doc("our category code", example="permit"))
    description = Text(required=True, not_blank=True, validate=validate.Length(1, 4000))
    first_name = Text(validate=validate.Length(max=50), metadata=_doc("名"))
    last_name = Text(validate=validate.Length(max=50), metadata=_doc("姓"))
    phone = Phone(required=True, metadata=_doc("contact phone", example="13912340001"))
    email = fields.Email(validate=validate.Length(max=200))
    address_string = Text(validate=validate.Length(max=300))
    address_id = Text(validate=validate.Length(max=100))
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180))
    device_id = Text(validate=validate.Length(max=200), metadata=_doc("accepted, ignored"))
    account_id = Text(validate=validate.Length(max=200), metadata=_doc("accepted, ignored"))
    media_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2000))
    enterprise_code = CreditCode(data_key="attribute[enterprise_code]", metadata=_doc(
        "the enterprise's unified social credit code (统一社会信用代码); required unless the "
        "credential is an enterprise's token", example="91433126MA4L00010B"))
    town = Code(data_key="attribute[town]", required=True,
                metadata=_doc("town code (see the service definition)", example="hongshi"))
    title = Text(data_key="attribute[title]", validate=validate.Length(1, 200),
                 metadata=_doc("a one-line title; default: the start of the description"))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _who(self, data, original, **kwargs):
        errors = {}
        if not (data.get("first_name") or "").strip() and not (data.get("last_name") or "").strip():
            errors["first_name"] = ["first_name or last_name is required (the contact's name)"]
        if self.context["caller"].role != "enterprise" \
                and "attribute[enterprise_code]" not in (original or {}):
            errors["attribute[enterprise_code]"] = ["Missing data for required field."]
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

class Service(Schema):
    service_code = fields.String()
    service_name = fields.String()
    description = fields.String()
    metadata = fields.Boolean()
    type = fields.String()
    keywords = fields.String()
    group = fields.String()


class AttributeValue(Schema):
    key = fields.String()
    name = fields.String()


class Attribute(Schema):
    variable = fields.Boolean()
    code = fields.String()
    datatype = fields.String()
    required = fields.Boolean()
    datatype_description = fields.String()
    order = fields.Integer()
    description = fields.String()
    values = fields.List(fields.Nested(AttributeValue))


class ServiceDefinition(Schema):
    service_code = fields.String()
    attributes = fields.List(fields.Nested(Attribute))


class ServiceRequest(Schema):
    service_request_id = fields.String()
    status = fields.String(metadata=_doc("open | closed"))
    status_notes = fields.String()
    service_name = fields.String()
    service_code = fields.String()
    description = fields.String()
    agency_responsible = fields.String()
    service_notice = fields.String()
    requested_datetime = fields.String()
    updated_datetime = fields.String()
    expected_datetime = fields.String(allow_none=True)
    address = fields.String()
    address_id = fields.String()
    zipcode = fields.String()
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    media_url = fields.String()


class RequestCreated(Schema):
    service_request_id = fields.String()
    service_notice = fields.String()
    account_id = fields.String(allow_none=True)


class Error(Schema):
    code = fields.Integer()
    description = fields.String()
