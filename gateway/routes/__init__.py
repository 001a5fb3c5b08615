"""One module per backing service, each a mixin of routes for GatewayService.

To add a service's routes: write ``gateway/routes/<service>.py`` with a class
deriving from ``RoutesBase`` that declares ``<service> = GuardedRpcProxy(...)``
(a timed proxy with a circuit: the service down, its routes answer 503 at once and
/readyz reports it without failing) and its
``@route`` methods, each starting with ``caller = self.gate.enter(request)``;
then add the class to ``GatewayService``'s bases. The OpenAPI document and
/docs pick the routes up from their declarations.
"""
