"""Candidate: RPC replies sent transient and without a publisher confirm.

A reply that is lost is already handled by the caller's timeout
(``kernel.rpc.TimedRpcProxy``), as a crashed worker is; confirming each reply
and writing it to disk buys nothing the caller can use. In the kernel this is
a responder subclass used by the ``rpc`` decorator's entrypoint; here the
process-wide default is changed, which is the same for a service process.
"""
from nameko import rpc as nameko_rpc
from nameko.amqp.publish import Publisher


class TransientReplies(Publisher):
    use_confirms = False
    delivery_mode = 1


nameko_rpc.Responder.publisher_cls = TransientReplies

from services.appeals.service import AppealsService  # noqa: E402,F401
