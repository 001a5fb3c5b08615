"""One broker user per service (issue 13): scripts/broker-users.sh gives each
service a RabbitMQ user limited to its own exchanges and queues. Against the
real broker: the appeals service runs under its own user, and the inspections
user can neither consume the appeals service's queues nor publish its events."""
import os
import shutil
import subprocess
import uuid
from urllib.parse import quote

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Producer

from kernel.config import ROOT
from kernel.leanrpc import StandaloneRpc
from services.appeals.service import AppealsService

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

HOST = os.environ.get("QQ_TEST_AMQP_HOST", "127.0.0.1:5672")


@pytest.fixture
def broker_users():
    if not shutil.which("rabbitmqctl"):
        pytest.skip("rabbitmqctl is needed to make users")
    vhost = f"qq-users-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    services = ["appeals", "inspections"]
    prefix = f"qq-test-{tag}-"  # users of this test only
    env = dict(os.environ, QQ_BROKER_PASSWORD_APPEALS=f"pw-a-{tag}",
               QQ_BROKER_PASSWORD_INSPECTIONS=f"pw-i-{tag}", QQ_BROKER_USER_PREFIX=prefix)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "broker-users.sh"), vhost, *services],
                         env=env, check=True, capture_output=True, text=True).stdout
    assert "pw-" not in out  # given passwords are never echoed
    uri = lambda user, pw: f"amqp://{user}:{pw}@{HOST}/{quote(vhost, safe='')}"  # noqa: E731
    yield {"vhost": vhost, "appeals": uri(prefix + "appeals", f"pw-a-{tag}"),
           "inspections": uri(prefix + "inspections", f"pw-i-{tag}"), "guest": uri("guest", "guest")}
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
    for service in services:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", prefix + service], capture_output=True)


def _refused(uri, action):
    with Connection(uri) as conn:
        channel = conn.channel()
        with pytest.raises(AccessRefused):
            action(channel)


def test_a_service_user_cannot_touch_another_services_queues(broker_users, start_service,
                                                           db_factory, base_config, rpc):
    # rule: GW-2
    # the appeals service runs under its own user: its permissions are enough
    start_service(AppealsService, DB_URL=db_factory("appeals"), AMQP_URI=broker_users["appeals"])
    # Replies come back through a reply queue of the caller's own (RPC_REPLY_TO: queue):
    # the service needs no write on the default exchange
    with StandaloneRpc({**base_config, "AMQP_URI": broker_users["guest"],
                        "RPC_REPLY_TO": "queue"}, timeout=20) as p:
        assert p.appeals.ping()["status"] == "ok"  # a caller in that vhost is answered
    inspections = broker_users["inspections"]
    # a service calling another under its own user, its reply queue in its own name space
    with StandaloneRpc({**base_config, "AMQP_URI": inspections, "RPC_REPLY_TO": "queue"},
                       timeout=20, owner="inspections") as p:
        assert p.appeals.ping()["status"] == "ok"
    _refused(inspections, lambda ch: ch.basic_consume("rpc-appeals", callback=lambda m: None))
    _refused(inspections, lambda ch: ch.basic_get("rpc-appeals"))
    _refused(inspections, lambda ch: ch.queue_purge("rpc-appeals"))

    def forge_event(ch):
        Producer(ch).publish({"forged": True}, routing_key="appeal.closed", declare=[],
                             exchange=Exchange("appeals.events", type="topic", durable=True))
        ch.basic_qos(0, 1, False)  # a synchronous call: the broker's refusal arrives here
    _refused(inspections, forge_event)

    def straight_into_a_queue(ch):  # the default exchange would reach any queue by its name
        Producer(ch).publish({"forged": True}, exchange="", declare=[],
                             routing_key="evt-appeals-appeal.rated--scoring.on_appeal_rated")
        ch.basic_qos(0, 1, False)
    _refused(inspections, straight_into_a_queue)
    # its own name space works
    with Connection(inspections) as conn:
        ch = conn.channel()
        ch.queue_declare("rpc-inspections", durable=True)
        assert ch.basic_get("rpc-inspections") is None
