"""The floor's hello as a nameko ``@http`` entrypoint, run like a service:
``nameko run --config <yaml> bench.hello_service:HelloService``. Beside the
plain WSGI hello it shows what nameko's worker machinery adds per request."""
from nameko.web.handlers import http


class HelloService:
    name = "bench_hello"

    @http("GET", "/hello")
    def hello(self, request):
        return 200, {"Content-Type": "application/json"}, '{"hello": "world"}'
