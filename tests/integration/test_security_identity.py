"""The caller's identity between the gateway and the services is signed
(issue 13): anything that can publish to the broker but lacks
CALLER_SIGNING_KEY cannot act as the task force. Real broker, real database."""
import base64
import json
import time

import pytest

from kernel.config import InsecureSetting
from kernel.errors import Unauthorized
from kernel.leanrpc import StandaloneRpc
from kernel.rpc import Caller, caller_signing_key
from services.appeals.service import AppealsService

pytestmark = pytest.mark.integration

TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
ENTERPRISE = Caller(role="enterprise", sub="user-a", org="91433126MA4L00010B")


@pytest.fixture
def appeals(start_service, db_factory):
    return start_service(AppealsService, DB_URL=db_factory("appeals"))


def _call_with(base_config, header):
    """list_appeals with a raw ``caller`` context header, as a rogue publisher would."""
    with StandaloneRpc(base_config, context_data={"caller": header}, timeout=20) as proxy:
        return proxy.appeals.list_appeals({})


def test_unsigned_altered_expired_or_foreign_identities_are_refused(appeals, base_config):
    # rule: GW-2
    key = caller_signing_key(base_config)
    good = TASKFORCE.to_header(key)
    assert _call_with(base_config, good)["items"] == []  # the signed one works

    payload, mac = ENTERPRISE.to_header(key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(role="taskforce", org="taskforce")
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused = {
        "unsigned (the old plain JSON)": json.dumps({"role": "taskforce", "sub": "tf-1",
                                                     "org": "taskforce", "scopes": []}),
        "altered payload": f"{altered}.{mac}",
        "signed with another key": TASKFORCE.to_header(b"not-the-cluster-key"),
        "expired": TASKFORCE.to_header(key, ttl=-1),
        "mac only": mac,
        "garbage": "x.y",
    }
    for name, header in refused.items():
        with pytest.raises(Unauthorized):
            _call_with(base_config, header)
            pytest.fail(f"accepted: {name}")


def test_identity_expires_after_its_short_life(appeals, base_config):
    # rule: GW-2
    key = caller_signing_key(base_config)
    issued = time.time() - 301  # signed five minutes and a second ago, 300 s life
    with pytest.raises(Unauthorized):
        _call_with(base_config, TASKFORCE.to_header(key, ttl=300, now=issued))
    assert _call_with(base_config, TASKFORCE.to_header(key, ttl=300, now=time.time() - 290))


def test_production_refuses_to_start_without_its_own_signing_key(start_service, db_factory,
                                                                base_config):
    # rule: GW-2
    for config in ({"CALLER_SIGNING_KEY": None}, {"CALLER_SIGNING_KEY":
                                                  "qinqing-development-caller-key-never-use-in-production"}):
        cfg = {**base_config, **config, "QQ_ENV": "production"}
        with pytest.raises(InsecureSetting):
            caller_signing_key(cfg)
        with pytest.raises(InsecureSetting):
            start_service(AppealsService, DB_URL=db_factory("appeals"), QQ_ENV="production", **config)
    # development: the documented default is allowed
    assert caller_signing_key({"QQ_ENV": "development"})
