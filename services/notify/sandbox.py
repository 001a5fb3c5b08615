"""A local stand-in for the providers' endpoints (development, tests, benchmarks).

The real clients run unchanged against it: Tencent Cloud's SMS SDK
(``SendSms``, TC3 JSON API), wechatpy (``/cgi-bin/token``,
``/cgi-bin/message/template/send``), and any webhook target
(``/hooks/<name>``). It records what it received; a hook can be told to fail
its first N calls. Loopback only.

Run alone: ``python -m services.notify.sandbox --port 8090``;
``GET /_sandbox`` shows what was received.
"""
import json
import threading
import uuid
from collections import defaultdict

from werkzeug.wrappers import Request, Response

JSON = "application/json"


class Sandbox:
    def __init__(self):
        self.sms = []  # {"phone", "params", "sign", "template_id", "app_id", "authorized"}
        self.wechat = []  # the template message bodies
        self.hooks = defaultdict(list)  # name → [{"headers", "body", "status"}]
        self.fail_first = {}  # hook name → failures still to give
        self._lock = threading.Lock()
        self._server = None

    # -- WSGI ---------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request):
        path = request.path
        if path == "/" and request.headers.get("X-TC-Action") == "SendSms":
            return self._send_sms(request)
        if path == "/cgi-bin/token":
            return _json({"access_token": "sandbox-token", "expires_in": 7200})
        if path == "/cgi-bin/message/template/send":
            with self._lock:
                self.wechat.append(json.loads(request.get_data()))
            return _json({"errcode": 0, "errmsg": "ok", "msgid": len(self.wechat)})
        if path.startswith("/hooks/"):
            return self._hook(request, path[len("/hooks/"):])
        if path == "/_sandbox":
            return _json({"sms": len(self.sms), "wechat": len(self.wechat),
                          "hooks": {k: len(v) for k, v in self.hooks.items()}})
        return Response("not found", status=404)

    def _send_sms(self, request):
        body = json.loads(request.get_data())
        authorized = request.headers.get("Authorization", "").startswith("TC3-HMAC-SHA256 ")
        statuses = []
        with self._lock:
            for phone in body.get("PhoneNumberSet", []):
                self.sms.append({"phone": phone, "params": body.get("TemplateParamSet", []),
                                 "sign": body.get("SignName"), "template_id": body.get("TemplateId"),
                                 "app_id": body.get("SmsSdkAppId"), "authorized": authorized})
                statuses.append({"SerialNo": uuid.uuid4().hex, "PhoneNumber": phone, "Fee": 1,
                                 "SessionContext": "", "Code": "Ok", "Message": "send success",
                                 "IsoCode": "CN"})
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    def _hook(self, request, name):
        with self._lock:
            failing = self.fail_first.get(name, 0) > 0
            if failing:
                self.fail_first[name] -= 1
            status = 503 if failing else 204
            self.hooks[name].append({"headers": dict(request.headers),
                                     "body": request.get_data(as_text=True), "status": status})
        return Response(status=status)

    def sms_to(self, phone):
        return [m for m in self.sms if m["phone"] == phone]

    def accepted(self, name):
        return [h for h in self.hooks[name] if h["status"] < 300]

    # -- serving (eventlet) -----------------------------------------------------------
    def start(self, port=0):
        import eventlet
        import eventlet.wsgi
        sock = eventlet.listen(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        self._server = eventlet.spawn(eventlet.wsgi.server, sock, self, log_output=False,
                                      max_size=1000)
        return self

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self._server is not None:
            self._server.kill()
            self._server = None


def _json(data, status=200):
    return Response(json.dumps(data), status=status, content_type=JSON)


def main():
    import argparse
    import eventlet
    eventlet.monkey_patch()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    box = Sandbox().start(args.port)
    print(f"provider sandbox on {box.url}", flush=True)
    while True:
        eventlet.sleep(3600)


if __name__ == "__main__":
    main()
