"""The entry code (红绿码, INS-4): a QR code carrying a signed token.

The token names the visit, its enterprise and its date, and carries an
HMAC-SHA256 over them with the county's key (``INS_CODE_KEY``). Scanning it
opens the public verification page, which reads the visit's *current* state:
a code printed while red turns green once the head approves. A token whose
signature does not match — forged, altered, or signed with another key — is
invalid, and so is one whose visit no longer has that enterprise and date.
"""
import base64
import datetime as dt
import hashlib
import hmac
import io
from dataclasses import dataclass

import segno

PREFIX = "v1"
COLOURS = {"green": "#137333", "red": "#c5221f"}


@dataclass(frozen=True)
class TokenClaims:
    visit_id: int
    enterprise_code: str
    planned_date: dt.date


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, f"{PREFIX}.{body}".encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, visit_id: int, enterprise_code: str, planned_date: dt.date) -> str:
    body = _b64(f"{visit_id}|{enterprise_code}|{planned_date.isoformat()}".encode("ascii"))
    return f"{PREFIX}.{body}.{_mac(key, body)}"


def verify(key: bytes, token) -> TokenClaims | None:
    """The claims of a genuine token, else None (never raises on bad input)."""
    if not isinstance(token, str) or len(token) > 400:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    _, body, mac = parts
    try:
        expected = _mac(key, body)
    except UnicodeEncodeError:
        return None
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii", "replace")):
        return None
    try:
        visit_id, code, day = _unb64(body).decode("ascii").split("|")
        return TokenClaims(int(visit_id), code, dt.date.fromisoformat(day))
    except (ValueError, UnicodeDecodeError):
        return None


def render(url: str, colour: str, kind: str) -> bytes:
    """The QR code of ``url``, its dark modules green or red; kind png | svg."""
    qr = segno.make(url, error="m")
    out = io.BytesIO()
    qr.save(out, kind=kind, scale=8 if kind == "png" else 4, border=3,
            dark=COLOURS.get(colour, "#000000"), light="#ffffff")
    return out.getvalue()
