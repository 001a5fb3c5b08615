"""A nameko RPC service that does nothing but answer (``nameko run
bench.echo_service:EchoService``): the platform's request/reply cost (the
kernel's ``rpc`` entrypoint in a nameko container), with no database behind
it, between raw kombu and the appeals service."""
from kernel.rpc import rpc

from bench.floor import APPEAL_LIKE


class EchoService:
    name = "bench_echo"

    @rpc
    def echo(self, appeal_id):
        return APPEAL_LIKE
