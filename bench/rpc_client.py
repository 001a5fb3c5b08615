"""Platform RPC: a read call to the appeals service through the project's own
client (``kernel.rpc.cluster_proxy``: one connection, shared by the N callers
in flight), one caller sequential or N in flight. Prints one JSON line.
``--target echo`` calls ``bench.echo_service`` instead: no database.
``--client nameko`` uses nameko's own ClusterRpcProxy (one per green thread,
never shared), for comparison with the kernel's transport.

    python -m bench.rpc_client --amqp URI --inflight 1 --seconds 5 [--target appeals|echo]
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from nameko.exceptions import UnknownService  # noqa: E402

from bench.common import latency_summary  # noqa: E402
from kernel.rpc import Caller, cluster_proxy  # noqa: E402

ENTERPRISE = "91433126MA4L00010B"
CALLER = Caller(role="enterprise", sub="bench-user", org=ENTERPRISE)
APPEAL = {"channel": "mini_program", "category": "permit", "town": "hongshi",
          "title": "营业执照变更迟迟未办", "content": "提交材料已两周, 仍未办结",
          "contact_name": "张明", "contact_phone": "13912340001"}


def open_client(config, kind):
    """A client not yet started: the kernel's, or nameko's ClusterRpcProxy."""
    if kind == "nameko":
        from nameko.standalone.rpc import ClusterRpcProxy
        from kernel.rpc import caller_signing_key
        context = {"caller": CALLER.to_header(caller_signing_key(config))}
        return ClusterRpcProxy(config, context_data=context, timeout=10)
    return cluster_proxy(config, CALLER)


def until_up(config, first_call, timeout=60, kind="kernel"):
    """The first call, retried while the service's queue does not exist yet."""
    end = time.monotonic() + timeout
    while True:
        try:
            with open_client(config, kind) as proxy:
                return first_call(proxy)
        except UnknownService:
            if time.monotonic() > end:
                raise
            eventlet.sleep(0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.rpc_client")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--target", choices=("appeals", "echo"), default="appeals")
    parser.add_argument("--client", choices=("kernel", "nameko"), default="kernel")
    args = parser.parse_args(argv)
    config = {"AMQP_URI": args.amqp, "RPC_TIMEOUT_SECONDS": 10}

    if args.target == "appeals":
        # The enterprise's own appeal: get_appeal checks that the caller may see it.
        appeal_id = until_up(config, lambda proxy: proxy.appeals.create_appeal(dict(APPEAL))["id"],
                             kind=args.client)
        call = lambda proxy: proxy.appeals.get_appeal(appeal_id)  # noqa: E731
    else:
        appeal_id = 123456
        call = lambda proxy: proxy.bench_echo.echo(appeal_id)  # noqa: E731
        until_up(config, call, kind=args.client)

    latencies, errors = [], [0]
    window = {"measuring": False, "end": 0.0}

    # Opened before the clock starts: the kernel's client once for all callers,
    # nameko's one per green thread (its proxies must not be shared).
    if args.client == "nameko":
        clients = [open_client(config, "nameko") for _ in range(args.inflight)]
        proxies = [c.start() for c in clients]
    else:
        clients = [open_client(config, "kernel")]
        proxies = [clients[0].start()] * args.inflight

    def caller_loop(proxy):
        while time.perf_counter() < window["end"]:
            started = time.perf_counter()
            try:
                call(proxy)
            except Exception:  # counted, the run goes on
                errors[0] += window["measuring"]
                continue
            if window["measuring"]:
                latencies.append(time.perf_counter() - started)

    def run_for(seconds):
        window["end"] = time.perf_counter() + seconds
        pool = eventlet.GreenPool(args.inflight)
        for proxy in proxies:
            pool.spawn(caller_loop, proxy)
        pool.waitall()

    run_for(args.warmup)
    window["measuring"] = True
    cpu0 = time.process_time()
    started = time.perf_counter()
    run_for(args.seconds)
    wall = time.perf_counter() - started
    out = latency_summary(latencies, wall, errors[0])
    out["client_cpu_cores"] = (time.process_time() - cpu0) / wall
    out["appeal_id"] = appeal_id
    for c in clients:
        c.stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
