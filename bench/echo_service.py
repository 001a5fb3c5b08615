"""A nameko RPC service that does nothing but answer (``nameko run
bench.echo_service:EchoService``): nameko's own request/reply cost, with no
database behind it, between raw kombu and the appeals service."""
from nameko.rpc import rpc

from bench.floor import APPEAL_LIKE


class EchoService:
    name = "bench_echo"

    @rpc
    def echo(self, appeal_id):
        return APPEAL_LIKE
