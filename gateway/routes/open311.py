"""Open311 GeoReport v2 (GW-3) over the appeals service: /open311/v2/….

Spec conventions rule here: ``.json`` or ``.xml`` on every path, form-encoded
POSTs with ``api_key``, errors as ``[{"code", "description"}]`` (in XML
``<errors><error>…``), 400 for bad input and 403 for a missing or invalid
``api_key``. Unlike public 311 systems, requests here are not public (an
appeal may hold an enterprise's business): reading them needs a credential
too, and a caller sees only its own (GW-2).
"""
from functools import partial

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from kernel.errors import BadInput, NotFound, Unauthorized

from .. import open311
from ..access import ANY_CALLER
from ..http import PREFIX_RENDERERS, json_response, query_args, read_json, route
from ..problems import MalformedRequest, PayloadTooLarge, describe
from ..schemas import load
from ..schemas.open311 import (RequestCreated, RequestIn, RequestQuery, RequestsQuery, Service,
                               ServiceDefinition, ServiceRequest, ServicesQuery)
from .base import RoutesBase, idempotency, rpc_safe

FMT = "<any(json, xml):fmt>"
MEDIA = ("application/json", "text/xml")
LIST_LIMIT = 200  # newest first; the spec allows a server to cap a list


def open311_error(exc, request_id=None, request=None):
    """A refusal in the spec's shape, in the format the path asked for."""
    status, _title, detail, _members, headers = describe(exc)
    problems = [detail]
    if isinstance(exc, (BadInput, MalformedRequest)):
        status = 400
        problems = [f"{open311.PARAMETER_OF.get(field, field)}: {_text(messages)}"
                    for field, messages in sorted(exc.errors.items())] or [detail]
    elif isinstance(exc, Unauthorized):
        status, headers = 403, {}  # the spec: a missing or invalid api_key is a 403
    values = getattr(request, "path_values", None) or {}
    fmt = values.get("fmt") or ("xml" if request is not None and request.path.endswith(".xml")
                                else "json")
    return render(fmt, "errors", open311.errors(status, problems), status, headers)


def _text(messages):
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in messages.items())
    if isinstance(messages, list):
        return "; ".join(_text(m) for m in messages)
    return str(messages)


def render(fmt, root, data, status=200, headers=None):
    if fmt == "xml":
        return Response(open311.to_xml(root, data), status=status, headers=headers,
                        content_type="text/xml; charset=utf-8")
    return json_response(data, status, headers)


PREFIX_RENDERERS["/open311/"] = open311_error
open311_route = partial(route, renderer=open311_error, tags=("open311",), response_media=MEDIA)


class Open311Routes(RoutesBase):

    @open311_route("GET", "/open311/v2/services." + FMT, roles=None, response=Service,
                   query=ServicesQuery,
                   response_many=True, summary="Open311: the services (our appeal categories)")
    def open311_services(self, request, fmt):
        self.gate.enter(request)
        return render(fmt, "services", open311.services(self.appeals.reference()))

    @open311_route("GET", "/open311/v2/services/<service_code>." + FMT, roles=None,
                   query=ServicesQuery, response=ServiceDefinition,
                   summary="Open311: a service's definition — the attributes a request carries "
                           "(enterprise_code, town, title)")
    def open311_definition(self, request, service_code, fmt):
        self.gate.enter(request)
        reference = self.appeals.reference()
        self._known_service(reference, service_code)
        return render(fmt, "service_definition", open311.definition(reference, service_code))

    @open311_route("POST", "/open311/v2/requests." + FMT, roles=ANY_CALLER, body=RequestIn,
                   body_media=("application/x-www-form-urlencoded", "application/json"),
                   response=RequestCreated, response_many=True, idempotent=True,
                   summary="Open311: file a service request — an appeal like any other",
                   description="The channel is the API key's channel (default `referral`); the "
                               "credit code comes as `attribute[enterprise_code]`.")
    def open311_create(self, request, fmt):
        form = _form(request)
        api_key = form.get("api_key")
        if api_key is not None and not isinstance(api_key, str):  # a JSON body may send anything
            raise BadInput({"api_key": ["must be a string"]})
        caller = self.gate.enter(request, api_key=api_key)
        data = load(RequestIn, form, caller=caller)
        self._known_service(self.appeals.reference(), data["service_code"])
        # The appeals service checks the appeal as it checks every other (its
        # refusals come back under the spec's parameter names).
        appeal = rpc_safe(open311.to_appeal(data, caller))
        appeal.update(idempotency(request))
        return render(fmt, "service_requests", open311.created(self.appeals.create_appeal(appeal)))

    @open311_route("GET", "/open311/v2/requests." + FMT, roles=ANY_CALLER, query=RequestsQuery,
                   response=ServiceRequest, response_many=True,
                   summary=f"Open311: the caller's service requests, newest first (at most "
                           f"{LIST_LIMIT})")
    def open311_requests(self, request, fmt):
        self.gate.enter(request, api_key=request.args.get("api_key"))
        query = load(RequestsQuery, query_args(request))
        if query.get("service_request_id"):
            found = self._by_ids(query["service_request_id"].split(","))
        else:
            found = self._search(query)
        reference = self.appeals.reference()
        return render(fmt, "service_requests", [open311.to_request(a, reference) for a in found])

    @open311_route("GET", "/open311/v2/requests/<service_request_id>." + FMT, roles=ANY_CALLER,
                   query=RequestQuery, response=ServiceRequest, response_many=True,
                   summary="Open311: one service request (a list of one, as the spec says)")
    def open311_request(self, request, service_request_id, fmt):
        self.gate.enter(request, api_key=request.args.get("api_key"))
        found = self._by_ids([service_request_id])
        if not found:
            raise NotFound("service_request_id not found")
        return render(fmt, "service_requests",
                      [open311.to_request(found[0], self.appeals.reference())])

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _known_service(reference, service_code):
        if service_code not in {c["code"] for c in reference["categories"]}:
            raise NotFound("service_code not found")

    def _by_ids(self, ids):
        found = []
        for raw in ids:
            if not raw.isdigit() or not 0 < len(raw) <= 18:
                continue
            try:
                found.append(self.appeals.get_appeal(int(raw)))
            except NotFound:
                continue  # not there, or not the caller's: the same to the caller
        return found

    def _search(self, query):
        """One ledger query per (status, service_code) asked for, merged newest first."""
        asked = query["status"].split(",") if query.get("status") else []
        statuses = open311.our_statuses(asked) or [None]
        codes = query["service_code"].split(",") if query.get("service_code") else [None]
        base = {"limit": LIST_LIMIT, "received_from": query.get("start_date"),
                "received_to": query.get("end_date")}
        seen = {}
        for status in statuses:
            for code in codes:
                q = {k: v for k, v in {**base, "status": status, "category": code}.items()
                     if v is not None}
                for appeal in self.appeals.list_appeals(rpc_safe(q))["items"]:
                    seen[appeal["id"]] = appeal
        return sorted(seen.values(), key=lambda a: a["id"], reverse=True)[:LIST_LIMIT]


def _form(request):
    """The POST's parameters: form-encoded as the spec says, or a JSON object."""
    if request.mimetype == "application/json":
        return read_json(request)
    try:
        return request.form.to_dict(flat=True)
    except HTTPException as exc:
        if exc.code == 413:
            raise PayloadTooLarge("request body too large")
        raise MalformedRequest("the form could not be read")
    except ValueError:
        raise MalformedRequest("the form could not be read")
