"""Who may see the /day page: the access code once, then a signed cookie for the day; and the token
that proves a form post came from the page itself.

The cookie is login/device.py's signed value under a key of its own (a device cookie is never
accepted here, nor this one there): HttpOnly, SameSite=Strict, Path=/day, 12 hours. Changing CODE
signs every page out. Each form of the page carries a CSRF token, the HMAC of the page's cookie
under a third key: a forged post has neither the cookie (SameSite=Strict keeps it home) nor the
token (no other site can read the page), and is refused before anything is done.
"""

import hashlib
import hmac
import time

from kite_service.login.device import DeviceCookies

DAY_COOKIE = "kite_app_day"
DAY_PATH = "/day"
DAY_LIFETIME_SECONDS = 12 * 3600
_COOKIE_PURPOSE = b"kite_app day page cookie\x00"
_FORM_PURPOSE = b"kite_app day page form\x00"


class DayAccess:
    """Issues and checks the page's cookie and its forms' tokens; thread-safe."""

    def __init__(self, secret: str, access_code: str, clock=time.time):
        self._cookies = DeviceCookies(
            secret, access_code, clock=clock, lifetime=DAY_LIFETIME_SECONDS, purpose=_COOKIE_PURPOSE
        )
        self._form_key = hmac.new(
            secret.encode("utf-8", "replace"), _FORM_PURPOSE + access_code.encode("utf-8", "replace"), hashlib.sha256
        ).digest()

    def issue(self) -> str:
        """A new page cookie, valid for DAY_LIFETIME_SECONDS."""
        return self._cookies.issue()

    def allows(self, cookie) -> bool:
        """Whether `cookie` is a page cookie this service signed, within its 12 hours."""
        return self._cookies.device_of(cookie) is not None

    def form_token(self, cookie: str) -> str:
        """The CSRF token of the page that carries `cookie`."""
        return hmac.new(self._form_key, cookie.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def form_ok(self, cookie, token) -> bool:
        """Whether a form post carries a valid page cookie and that page's token."""
        if not self.allows(cookie) or not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode("utf-8", "replace"), self.form_token(cookie).encode())
