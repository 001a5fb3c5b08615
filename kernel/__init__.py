"""The shared kernel: what every Qinqing service needs, in one place each.

config · db (session, migrations) · outbox (transactional outbox + relay) ·
contracts (event schemas) · consumers (idempotent event handlers) · calendar
(working days) · errors · metrics · logs · rpc (timed proxy, caller identity) ·
validators (credit code, phone).

Nothing here knows about appeals, inspections or any other service.
"""
