"""The gateway's pure parts, without broker or database: access rules, token
buckets, API key shapes, tokens, the contract's field types, Open311 mapping,
error mapping and the OpenAPI document."""
import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import jwt
import pytest
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from gateway import access, keys, open311
from gateway.auth import TokenVerifier
from gateway.credentials import DEV_JWT_SECRET, jwt_secret
from gateway.problems import TooManyRequests, describe
from gateway.ratelimit import Limit, TokenBuckets
from gateway.schemas import StrictInteger, Timestamp, load
from kernel.config import CountyProfile
from kernel.errors import BadInput, Forbidden, NotFound, Unauthorized
from kernel.rpc import Caller
from services.appeals import domain as appeals_domain
from services.appeals.schemas import AppealCreate

ENT_A, ENT_B = "91433126MA4L00010B", "91433126MA4L00020C"
SECRET = "unit-test-secret-0123456789abcdef0123456789"
APPEAL = {"id": 1, "enterprise_code": ENT_A, "lead_department": "approval",
          "co_departments": ["market"], "channel": "mini_program"}


def caller(role, org="", sub="u"):
    return Caller(role=role, org=org, sub=sub)


# -- who sees what (GW-2) -------------------------------------------------------------

@pytest.mark.parametrize("who, sees", [
    (caller("enterprise", ENT_A), True), (caller("enterprise", ENT_B), False),
    (caller("department", "approval"), True), (caller("department", "market"), True),
    (caller("department", "tax"), False), (caller("taskforce", "taskforce"), True),
    (caller("admin"), True), (caller("channel", "mini_program"), True),
    # a key belongs to its organisation (issue 13): another key of the channel sees it
    (caller("channel", "mini_program", sub="another-key"), True),
    (caller("channel", "hotline_12345"), False),
    (caller("system"), True),  # the platform itself; no token or key ever carries it
])
def test_who_sees_an_appeal_is_decided_once_by_the_appeals_service(who, sees):
    # rule: GW-2
    # The gateway keeps no copy of this rule (it had drifted: any key of a
    # channel saw all of it); the service's check is the only one.
    appeal = SimpleNamespace(**APPEAL, created_by="u")
    assert appeals_domain.can_see(appeal, who) is sees
    if sees:
        appeals_domain.check_visible(appeal, who)
    else:
        with pytest.raises(NotFound):
            appeals_domain.check_visible(appeal, who)
    assert not hasattr(access, "can_see") and not hasattr(access, "check_visible")


def test_roles_that_may_never_take_an_action_are_refused():
    # rule: GW-2
    access.check_action(caller("enterprise", ENT_A), "feedback")
    access.check_action(caller("department", "tax"), "accept")  # whether it leads: the service
    for role, action in (("enterprise", "accept"), ("department", "assign"),
                         ("channel", "feedback"), ("taskforce", "reply"), ("admin", "feedback")):
        with pytest.raises(Forbidden):
            access.check_action(caller(role, "x"), action)
    assert set(access.ACTIONS) == {"assign", "accept", "reply", "transfer", "return", "extend",
                                   "approve_extension", "reject_extension", "instruct",
                                   "feedback", "reopen"}


# -- rate limits ------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_token_bucket_burst_refill_and_retry_after():
    # rule: GW-1
    clock = Clock()
    buckets = TokenBuckets(Limit(burst=3, per_second=0.5), {"channel": Limit(10, 5)}, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(2.0)  # one token every 2 s
    assert buckets.take("b") == 0  # another credential, another bucket
    clock.now += 2.0
    assert buckets.take("a") == 0 and buckets.take("a") > 0
    clock.now += 3600
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills to the burst, not beyond
    assert all(buckets.take("k", "channel") == 0 for _ in range(10)) and buckets.take("k", "channel") > 0
    assert TooManyRequests(0.2).retry_after == 1 and TooManyRequests(7.1).retry_after == 8


def test_token_buckets_forget_the_least_recent_first():
    # rule: GW-1
    buckets = TokenBuckets(Limit(1, 0.001), max_buckets=2, clock=Clock())
    buckets.take("a")
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten: it comes back full
    assert buckets.take("a") == 0 and buckets.take("c") > 0


# -- API keys (GW-3) ----------------------------------------------------------------------

def test_api_keys_have_an_id_and_a_secret_and_only_the_hash_is_kept():
    # rule: GW-3
    key_id, key = keys.new_key()
    assert keys.key_id_of(key) == key_id and len(key_id) == 12
    assert keys.digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert keys.new_key()[1] != key
    for bad in ("", "qq_", "qq_zzzzzzzzzzzz_" + "A" * 43, key + "x", "xx" + key[2:], None):
        assert keys.key_id_of(bad) is None


# -- tokens (GW-2) ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def verifier():
    return TokenVerifier(CountyProfile.from_config(None), secret=SECRET, leeway=30)


def mint(secret=SECRET, algorithm="HS256", ttl=600, **claims):
    body = {"sub": "u-1", "role": "enterprise", "org": ENT_A,
            "exp": dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=ttl), **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm)


def test_tokens_become_callers(verifier):
    # rule: GW-2
    assert verifier.verify(mint()) == Caller(role="enterprise", sub="u-1", org=ENT_A)
    assert verifier.verify(mint(org=ENT_A.lower())).org == ENT_A  # normalised
    assert verifier.verify(mint(role="department", org="market")).org == "market"
    assert verifier.verify(mint(role="taskforce", org=None)) == Caller(role="taskforce", sub="u-1")
    assert verifier.verify(mint(ttl=-10)).role == "enterprise"  # within the leeway


@pytest.mark.parametrize("token", [
    mint(ttl=-120), mint(secret="another-secret-0123456789abcdef0123"), mint(role="system"),
    mint(role="channel", org="hotline_12345"), mint(role=None), mint(sub=None), mint(exp=None),
    mint(sub="x" * 65), mint(org="91433126MA4L00010X"), mint(role="department", org="nowhere"),
    mint(org=12345), jwt.encode({"sub": "u", "role": "admin", "exp": 9999999999}, None, "none"),
    "not-a-token", "a.b.c",
])
def test_bad_tokens_are_refused(verifier, token):
    # rule: GW-2
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_the_development_secret_needs_the_dev_flag(monkeypatch):
    # rule: GW-2
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    monkeypatch.delenv("GATEWAY_DEV", raising=False)
    assert jwt_secret({}) is None
    assert jwt_secret({"GATEWAY_DEV": "1"}) == DEV_JWT_SECRET
    assert jwt_secret({"GATEWAY_DEV": "1", "GATEWAY_JWT_SECRET": SECRET}) == SECRET


def test_dev_token_helper(monkeypatch, capsys):
    # rule: GW-2
    from gateway.token import main
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    monkeypatch.delenv("GATEWAY_DEV", raising=False)
    with pytest.raises(SystemExit) as refused:
        main(["--role", "enterprise", "--org", ENT_A])
    assert refused.value.code == 2
    main(["--dev", "--role", "enterprise", "--org", ENT_A.lower()])
    claims = jwt.decode(capsys.readouterr().out.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["org"]) == ("enterprise", ENT_A) and claims["exp"] > claims["iat"]
    monkeypatch.setenv("GATEWAY_JWT_SECRET", SECRET)
    main(["--role", "department", "--org", "market", "--sub", "clerk-7"])
    token = capsys.readouterr().out.strip()
    assert TokenVerifier(CountyProfile.from_config(None), secret=SECRET).verify(token) == \
        Caller(role="department", sub="clerk-7", org="market")
    for argv in (["--role", "enterprise", "--org", "123"], ["--role", "department", "--org", "x"],
                 ["--role", "channel"], ["--role", "admin", "--ttl", "0"]):
        with pytest.raises(SystemExit):
            main(argv)


# -- the contract's field types (GW-1) ---------------------------------------------------------

def test_strict_integers_and_bounded_timestamps():
    # rule: GW-1
    assert StrictInteger().deserialize(5) == 5
    for bad in (True, False, "5", 4.5, None):
        with pytest.raises(ValidationError):
            StrictInteger().deserialize(bad)
    assert Timestamp().deserialize("2026-03-01T09:00:00+08:00").year == 2026
    for bad in ("2026-03-01T09:00:00", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00"):
        with pytest.raises(ValidationError):
            Timestamp().deserialize(bad)


def test_who_files_an_appeal_decides_what_it_must_say():
    # rule: GW-2
    body = {"category": "permit", "town": "hongshi", "title": "t", "content": "c",
            "contact_name": "张明", "contact_phone": "13912340001"}
    load(AppealCreate, {**body, "channel": "mini_program"}, caller=caller("enterprise", ENT_A))
    load(AppealCreate, {**body, "enterprise_code": ENT_A}, caller=caller("channel", "hotline_12345"))
    cases = [
        (caller("enterprise", ENT_A), {**body, "channel": "x", "enterprise_code": ENT_B}, "enterprise_code"),
        (caller("enterprise", ENT_A), {**body, "channel": "x", "received_at": "2026-03-01T09:00:00+08:00"},
         "received_at"),
        (caller("department", "tax"), {**body, "channel": "x"}, "enterprise_code"),
        (caller("taskforce"), {**body, "enterprise_code": ENT_A}, "channel"),
        (caller("channel", "hotline_12345"), {**body, "channel": "media", "enterprise_code": ENT_A}, "channel"),
        (caller("taskforce"), {**body, "channel": "x", "enterprise_code": ENT_A, "title": "a\x00b"}, "title"),
    ]
    for who, payload, field in cases:
        with pytest.raises(BadInput) as err:
            load(AppealCreate, payload, caller=who)
        assert field in err.value.errors, (who, err.value.errors)


# -- error mapping (GW-1): never a 500 for what a client can cause ---------------------------

def test_errors_map_to_statuses():
    # rule: GW-1
    assert describe(BadInput({"title": ["x"]}))[0::3] == (422, {"errors": {"title": ["x"]}})
    assert describe(Unauthorized("no"))[4]["WWW-Authenticate"].startswith("Bearer")
    assert describe(TooManyRequests(2.5))[4] == {"Retry-After": "3"}
    assert describe(RpcTimeout("appeals.get_appeal gave no reply"))[0:3] == (
        504, "Gateway timeout", "a service did not answer in time; try again")
    assert describe(UnknownService("appeals"))[0] == 503
    assert describe(RemoteError("KeyError", "secret detail"))[2] == "a service failed to handle the request"
    assert describe(KeyError("internal"))[0:3] == (500, "Internal error",
                                                   "the gateway failed to handle the request")


# -- Open311 (GW-3) -------------------------------------------------------------------------------

def test_open311_request_becomes_an_appeal():
    # rule: GW-3
    form = {"service_code": "permit", "description": "营业执照变更迟迟未办\n第二行",
            "first_name": "明", "last_name": "张", "phone": "13912340001",
            "enterprise_code": ENT_A, "town": "hongshi", "address_string": "老街 8 号",
            "lat": 28.6, "long": 109.9, "media_url": "https://x.cn/1.jpg"}
    appeal = open311.to_appeal(form, caller("channel", "hotline_12345"))
    assert "channel" not in appeal and appeal["enterprise_code"] == ENT_A
    assert (appeal["category"], appeal["title"], appeal["contact_name"]) == ("permit", "营业执照变更迟迟未办", "张明")
    assert appeal["content"] == form["description"]  # exactly as sent, nothing folded in
    assert (appeal["address_string"], appeal["lat"], appeal["long"], appeal["contact_phone"]) == (
        "老街 8 号", 28.6, 109.9, "13912340001")
    anonymous = open311.to_appeal({k: v for k, v in form.items()
                                   if k not in ("first_name", "last_name", "phone")},
                                  caller("channel", "hotline_12345"))
    assert not {"contact_name", "contact_phone", "contact_email"} & set(anonymous)
    assert appeal["attachments"] == [{"name": "media_url", "url": "https://x.cn/1.jpg"}]
    by_dept = open311.to_appeal({**form, "title": "标题"}, caller("department", "approval"))
    assert by_dept["channel"] == "referral" and by_dept["title"] == "标题"
    assert "enterprise_code" not in open311.to_appeal(form, caller("enterprise", ENT_B))
    assert open311.contact_name("John", "Smith") == "John Smith"
    assert open311.contact_name(None, "张") == "张"


def test_appeal_becomes_an_open311_request():
    # rule: GW-3
    reference = {"categories": [{"code": "permit", "name": "审批许可"}],
                 "departments": [{"code": "approval", "name": "县行政审批服务局"}],
                 "towns": [{"code": "hongshi", "name": "红石林镇"}]}
    appeal = {"id": 7, "status": "replied", "category": "permit", "content": "c",
              "lead_department": "approval", "town": "hongshi", "reply_content": "已办",
              "received_at": "2026-03-01T01:00:00+00:00", "updated_at": "2026-03-02T01:00:00+00:00",
              "due_at": None, "attachments": []}
    out = open311.to_request(appeal, reference)
    assert (out["service_request_id"], out["status"], out["status_notes"], out["service_name"],
            out["agency_responsible"], out["address"]) == (
        "7", "open", "已办", "审批许可", "县行政审批服务局", "红石林镇")
    assert open311.to_request({**appeal, "status": "closed"}, reference)["status"] == "closed"
    located = open311.to_request({**appeal, "address_string": "老街 8 号", "address_id": "a-1",
                                  "lat": 28.6, "long": 109.9, "contact_email": "z@x.cn",
                                  "contact_phone": "+8613912340001"}, reference)
    assert (located["address"], located["address_id"], located["lat"], located["long"]) == (
        "老街 8 号", "a-1", 28.6, 109.9)
    assert "z@x.cn" not in str(located) and "13912340001" not in str(located)
    assert open311.our_statuses(["open"]) == ["received", "assigned", "accepted", "replied"]
    assert open311.our_statuses(["closed"]) == ["closed"]
    assert open311.our_statuses(["open", "closed"]) is None and open311.our_statuses([]) is None
    tree = ET.fromstring(open311.to_xml("service_requests", [out]))
    assert tree.find("request").findtext("status") == "open"
    assert tree.find("request").find("lat").text is None
    definition = ET.fromstring(open311.to_xml("service_definition", open311.definition(reference, "permit")))
    assert [a.findtext("required") for a in definition.iter("attribute")] == ["true", "true", "false"]
    assert definition.find("attributes/attribute/values") is not None


# -- the document (GW-1) --------------------------------------------------------------------------

def test_openapi_document_is_valid_openapi_3():
    # rule: GW-1
    from openapi_spec_validator import validate

    from gateway import openapi
    from gateway.service import GatewayService
    spec = openapi.document(GatewayService)
    validate(spec)
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert op["summary"] and op["responses"], (path, method)
            assert ("x-roles" in op) == (op["security"] != []), (path, method)
