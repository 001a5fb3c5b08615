"""The gateway: the one HTTP API in front of the services (GW-1 … GW-3).

Mobile clients, department systems and the task force's pages all come
through here. The gateway authenticates (JWT or API key), decides who may
call which route and see which appeal (GW-2, checked again by each service
from the caller passed in the call context), validates with the marshmallow
schemas of the public contract (v1), and calls the services by RPC. It holds
no business data; its own small database keeps API keys (as hashes) only.

Layout: ``service.py`` assembles ``GatewayService`` from one routes module
per backing service (``routes/``); ``http.py`` is the HTTP plumbing
(entrypoint, request ids, CORS, problem responses); ``auth.py`` credentials;
``access.py`` who may do what; ``schemas/`` the contract; ``openapi.py`` the
document generated from it.
"""
