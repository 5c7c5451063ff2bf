"""Remembered browsers: a signed, long-lived cookie that lets the owner's own browser past a flood.

Behind a reverse proxy every process that reaches the port can name any client address, so wrong
access codes from all addresses together are capped (login/access_code.py), and a flood of them
makes every code check through the proxy wait up to 15 minutes. A browser in which the access
code was entered right on /login carries this cookie; its code checks spend a budget of its own
(10 wrong in 15 minutes) instead, so a flood from elsewhere cannot keep the owner from logging in.

The cookie is `<device id>.<issued>.<hmac>`: the HMAC proves this service issued it, `issued` bounds
it to 400 days. Its key is derived from two secrets the service keeps already, the api_secret and
the access code, so a restart keeps every browser remembered, nothing new is written to disk, and
changing CODE forgets them all. A cookie this service did not sign (or signed for another code) is
worth nothing: the request counts as from an unknown client.
"""

import hashlib
import hmac
import secrets
import time

DEVICE_COOKIE = "kite_app_device"
DEVICE_LIFETIME_SECONDS = 400 * 24 * 3600  # the longest a browser keeps a cookie
MAX_COOKIE_CHARS = 200
CLOCK_SKEW_SECONDS = 300  # a cookie "issued" this far ahead of the clock (it was set back) still counts
_PURPOSE = b"kite_app device cookie\x00"  # this key signs nothing else


class DeviceCookies:
    """Issues and checks device cookies; thread-safe (no state beyond the key). `purpose` keys a
    cookie of another kind (the /day page's, web/day_access.py) that this one never accepts."""

    def __init__(
        self,
        secret: str,
        access_code: str,
        clock=time.time,
        lifetime: float = DEVICE_LIFETIME_SECONDS,
        purpose: bytes = _PURPOSE,
    ):
        key = hmac.new(
            secret.encode("utf-8", "replace"), purpose + access_code.encode("utf-8", "replace"), hashlib.sha256
        ).digest()
        # Keyed once and copied per cookie, as login/state.py does: a fresh HMAC looks the digest up again.
        self._keyed_mac = hmac.new(key, digestmod=hashlib.sha256)
        self._clock = clock
        self._lifetime = lifetime

    def issue(self, device: str | None = None) -> str:
        """A cookie value for `device` (None: a new device), valid for 400 days from now."""
        device = device or secrets.token_urlsafe(16)
        issued = int(self._clock())
        return f"{device}.{issued}.{self._sign(device, issued)}"

    def device_of(self, cookie) -> str | None:
        """The device a cookie this service signed names, within its 400 days; None for anything else."""
        if not isinstance(cookie, str) or not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return None
        parts = cookie.split(".")
        # isascii: str.isdigit() is also true of '²' and other digits int() refuses
        if len(parts) != 3 or not parts[0] or not (parts[1].isascii() and parts[1].isdigit()):
            return None
        device, issued, signature = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(signature.encode("ascii", "replace"), self._sign(device, issued).encode()):
            return None
        age = self._clock() - issued
        if age > self._lifetime or age < -CLOCK_SKEW_SECONDS:
            return None
        return device

    def _sign(self, device: str, issued: int) -> str:
        mac = self._keyed_mac.copy()
        mac.update(f"{device}.{issued}".encode("utf-8", "replace"))
        return mac.hexdigest()
