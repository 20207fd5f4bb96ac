"""Standard Webhooks signatures (https://www.standardwebhooks.com).

``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed with the
base64 part of a ``whsec_`` secret. During a secret rotation both the new and the previous
secret sign, space-separated, so a receiver that still holds the old secret keeps verifying.
Written here rather than taken from the reference library so the hub needs no extra runtime
package; the tests verify every request with the reference library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,...`` signature.

    Examples:
        >>> sign("whsec_" + base64.b64encode(b"k" * 24).decode(), "msg_1", 1700000000, b"{}")[:3]
        'v1,'
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: Iterable[str], msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given.

    ``at`` must be aware; its epoch seconds are zone-independent, so no UTC trap here.
    """
    timestamp = int(at.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }
