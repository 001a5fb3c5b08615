"""``python -m gateway``: run the gateway (nameko run with config/gateway.yaml).

GATEWAY_CONFIG names another YAML file; GATEWAY_PORT the port (8000).
"""
import eventlet

eventlet.monkey_patch()  # first, before anything imports socket or threading

import os  # noqa: E402
import sys  # noqa: E402

from kernel.config import ROOT  # noqa: E402


def main():
    config = os.environ.get("GATEWAY_CONFIG") or str(ROOT / "config" / "gateway.yaml")
    sys.argv = ["nameko", "run", "--config", config, "gateway.service:GatewayService"]
    from nameko.cli.main import main as nameko_main
    nameko_main()


if __name__ == "__main__":
    main()
