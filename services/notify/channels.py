"""Channels (NOT-3): each a provider behind one interface, chosen by configuration.

``provider.send(message)`` returns normally when the provider accepted the
message and raises ``DeliveryFailed`` otherwise. Each provider uses the
provider's own maintained client: Tencent Cloud's SMS SDK, wechatpy, smtplib,
requests + the ``standardwebhooks`` signer. In development and tests their
endpoints point at a local server (``services/notify/sandbox.py``).

The inbox is not here: it is a row in notify's own database, written in the
dispatcher's transaction.
"""
import datetime as dt
import json
import smtplib
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

import eventlet.pools
import requests
from standardwebhooks import Webhook

from kernel.config import setting, setting_json

from . import domain


class DeliveryFailed(Exception):
    pass


@dataclass
class Message:
    delivery_id: int
    channel: str
    address: str
    title: str
    body: str
    event_type: str
    extra: dict = field(default_factory=dict)  # webhook: secret, payload


class Provider:
    channel = None

    def send(self, message: Message):  # pragma: no cover - interface
        raise NotImplementedError


class TencentSms(Provider):
    """SMS through Tencent Cloud's ``SendSms`` (tencentcloud-sdk-python-sms).

    Tencent sends only registered templates; the county registers one whose
    single parameter is the text notify rendered (``SMS_TEMPLATE_ID``)."""
    channel = domain.SMS

    def __init__(self, config):
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        self.app_id = str(setting(config, "SMS_SDK_APP_ID", "1400000000"))
        self.sign = setting(config, "SMS_SIGN_NAME", "示范县营商环境")
        self.template_id = str(setting(config, "SMS_TEMPLATE_ID", "100001"))
        cred = credential.Credential(setting(config, "SMS_SECRET_ID", "dev-id"),
                                     setting(config, "SMS_SECRET_KEY", "dev-key"))
        http = HttpProfile(protocol=setting(config, "SMS_PROTOCOL", "https"),
                           endpoint=setting(config, "SMS_ENDPOINT", "sms.tencentcloudapi.com"),
                           reqTimeout=int(setting(config, "SMS_TIMEOUT_SECONDS", 10)),
                           keepAlive=True)
        region = setting(config, "SMS_REGION", "ap-guangzhou")
        # a client per concurrent sender: the SDK keeps per-client state
        self._clients = eventlet.pools.Pool(
            max_size=int(setting(config, "SMS_CONCURRENCY", 8)),
            create=lambda: sms_client.SmsClient(cred, region, ClientProfile(httpProfile=http)))

    def send(self, message):
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import \
            TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        req = models.SendSmsRequest()
        req.PhoneNumberSet = [message.address]
        req.SmsSdkAppId = self.app_id
        req.SignName = self.sign
        req.TemplateId = self.template_id
        req.TemplateParamSet = [message.body]
        try:
            with self._clients.item() as client:
                resp = client.SendSms(req)
        except TencentCloudSDKException as exc:
            raise DeliveryFailed(f"sms provider: {exc.code}") from None
        except Exception as exc:  # network: the SDK wraps some, not all
            raise DeliveryFailed(f"sms provider unreachable: {type(exc).__name__}") from None
        status = (resp.SendStatusSet or [None])[0]
        if status is None or status.Code != "Ok":
            raise DeliveryFailed(f"sms refused: {getattr(status, 'Code', 'no status')}")


class WeChatTemplate(Provider):
    """WeChat template messages (模板消息) through wechatpy."""
    channel = domain.WECHAT

    def __init__(self, config):
        from wechatpy import WeChatClient

        base = setting(config, "WECHAT_API_BASE", "https://api.weixin.qq.com/cgi-bin/")

        class _Client(WeChatClient):
            API_BASE_URL = base

            def fetch_access_token(self):
                # wechatpy writes the token URL out in full; the same call,
                # against the configured base (a local endpoint in development)
                return self._fetch_access_token(url=base + "token", params={
                    "grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret})

        self.client = _Client(setting(config, "WECHAT_APP_ID", "wx-dev"),
                              setting(config, "WECHAT_APP_SECRET", "dev-secret"),
                              timeout=10)
        self.template_id = setting(config, "WECHAT_TEMPLATE_ID", "dev-template")

    def send(self, message):
        from wechatpy.exceptions import WeChatException
        data = {"first": {"value": message.title}, "keyword1": {"value": message.body}}
        try:
            self.client.message.send_template(message.address, self.template_id, data)
        except WeChatException as exc:
            raise DeliveryFailed(f"wechat refused: {exc.errcode}") from None
        except requests.RequestException as exc:
            raise DeliveryFailed(f"wechat unreachable: {type(exc).__name__}") from None


class SmtpEmail(Provider):
    channel = domain.EMAIL

    def __init__(self, config):
        self.host = setting(config, "SMTP_HOST", "127.0.0.1")
        self.port = int(setting(config, "SMTP_PORT", 25))
        self.sender = setting(config, "SMTP_FROM", "notify@qinqing.invalid")
        self.user = setting(config, "SMTP_USER")
        self.password = setting(config, "SMTP_PASSWORD")
        self.starttls = str(setting(config, "SMTP_STARTTLS", "false")).lower() == "true"

    def send(self, message):
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.title
        mail["Message-ID"] = f"<delivery-{message.delivery_id}@qinqing>"
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"smtp: {type(exc).__name__}") from None


class SignedWebhook(Provider):
    """Standard Webhooks deliveries: ``webhook-id`` (stable across retries),
    ``webhook-timestamp``, ``webhook-signature`` from the subscription's secret.
    The target is checked again at send time (a name may resolve elsewhere now)."""
    channel = domain.WEBHOOK

    def __init__(self, config):
        self.guard = TargetGuard(config)
        self.timeout = float(setting(config, "WEBHOOK_TIMEOUT_SECONDS", 5))
        self.session = requests.Session()

    def send(self, message):
        try:
            self.guard.check(message.address)
        except domain.TargetRefused as exc:
            raise DeliveryFailed(f"target refused: {exc}") from None
        body = json.dumps(message.extra["payload"], ensure_ascii=False, separators=(",", ":"))
        msg_id = f"msg_{message.extra['msg_id']}"
        now = dt.datetime.now(dt.timezone.utc)
        signature = Webhook(message.extra["secret"]).sign(msg_id, now, body)
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
        try:
            resp = self.session.post(message.address, data=body.encode(), headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from None
        if not 200 <= resp.status_code < 300:
            raise DeliveryFailed(f"webhook answered {resp.status_code}")


class TargetGuard:
    """Resolves a webhook URL's host and applies ``domain.check_webhook_target``."""

    def __init__(self, config):
        self.allow = domain.parse_allow_list(setting_json(config, "WEBHOOK_ALLOW", []))
        self.production = str(setting(config, "NOTIFY_ENV", "development")).lower() == "production"

    def check(self, url):
        host = urlsplit(url).hostname or ""
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            addresses = sorted({info[4][0] for info in infos})
        except (socket.gaierror, UnicodeError):
            addresses = []
        domain.check_webhook_target(url, addresses, self.allow, self.production)


PROVIDERS = {
    "tencent": TencentSms,
    "wechatpy": WeChatTemplate,
    "smtp": SmtpEmail,
    "standard_webhooks": SignedWebhook,
}
DEFAULT_PROVIDERS = {domain.SMS: "tencent", domain.WECHAT: "wechatpy",
                     domain.EMAIL: "smtp", domain.WEBHOOK: "standard_webhooks"}


def providers_from_config(config):
    """``NOTIFY_PROVIDERS``: channel → provider name (see ``PROVIDERS``)."""
    chosen = {**DEFAULT_PROVIDERS, **setting_json(config, "NOTIFY_PROVIDERS", {})}
    out = {}
    for channel, name in chosen.items():
        if name not in PROVIDERS:
            raise ValueError(f"NOTIFY_PROVIDERS: unknown provider {name!r} for {channel}")
        provider = PROVIDERS[name](config)
        if provider.channel != channel:
            raise ValueError(f"NOTIFY_PROVIDERS: {name} does not send {channel}")
        out[channel] = provider
    return out
