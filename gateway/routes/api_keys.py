"""API keys for department systems and channel integrators (GW-3), made by an admin."""
from werkzeug.wrappers import Response

from kernel.errors import BadInput

from .. import keys
from ..access import ADMINS
from ..http import json_response, read_json, route
from ..schemas import load
from ..schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, ApiKeyList
from .base import RoutesBase


class ApiKeyRoutes(RoutesBase):

    @route("POST", "/api/v1/api-keys", roles=ADMINS, tags=("api keys",), status=201,
           summary="Make an API key bound to a department or a channel; the key is shown once",
           body=ApiKeyCreate, response=ApiKeyCreated)
    def create_api_key(self, request):
        caller = self.gate.enter(request)
        data = load(ApiKeyCreate, read_json(request))
        self._check_binding(data["kind"], data["code"])
        row, key = keys.create(self.db, data["kind"], data["code"], data["label"],
                               f"{caller.role}:{caller.sub}")
        return json_response({**_info(row), "key": key}, 201,
                             {"Location": f"/api/v1/api-keys/{row.id}", "Cache-Control": "no-store"})

    @route("GET", "/api/v1/api-keys", roles=ADMINS, tags=("api keys",), response=ApiKeyList,
           summary="The keys made so far (never the keys themselves)")
    def list_api_keys(self, request):
        self.gate.enter(request)
        return json_response({"items": keys.listing(self.db, _info)})

    @route("DELETE", "/api/v1/api-keys/<key_id>", roles=ADMINS, tags=("api keys",), status=204,
           summary="Revoke a key: it stops working at once; revoking twice changes nothing")
    def revoke_api_key(self, request, key_id):
        caller = self.gate.enter(request)
        keys.revoke(self.db, key_id, f"{caller.role}:{caller.sub}")
        return Response(status=204)

    def _check_binding(self, kind, code):
        reference = self.appeals.reference()
        known = {c["code"] for c in reference["departments" if kind == "department" else "channels"]}
        if code not in known:
            raise BadInput({"code": [f"unknown {kind} {code!r}"]})


def _info(row):
    return ApiKeyInfo().dump(row)
