"""The signed, short-lived, single-use `state` that ties a Kite login redirect to this service.

The login URL that the service hands out carries `state` in Kite's `redirect_params`; Kite returns
it to /api/callback. A state is `<nonce>.<expiry>.<hmac>`: the HMAC (key: a random per-process
secret) proves this service issued it, the expiry bounds it to 10 minutes, and the nonce (a
counter) is accepted once. A restart forgets the key, so states issued before it simply stop working.

A state from the /login page is bound to the browser that asked for it: the page sets a random
browser key in an HttpOnly, SameSite=Lax cookie, and the state is redeemed only with that key,
so a state seen elsewhere (history, a screenshot) cannot finish a login in another browser. A
state from /api/url (curl) is bound to nothing; its callback asks for the access code instead
(login/pages.py). The receipt the callback hands on is bound to the same browser key.
"""

import hashlib
import hmac
import itertools
import secrets
import threading
import time
from collections import OrderedDict

STATE_LIFETIME_SECONDS = 600
MAX_OUTSTANDING_STATES = 256


class InvalidStateError(Exception):
    """The callback's state is missing, forged, expired or used before."""


class OtherBrowserError(InvalidStateError):
    """The state was issued to another browser (or this one sent no cookie back)."""


UNBOUND = "unbound"  # what redeem() returns for a state from /api/url


class LoginStates:
    """Issues and redeems login states; thread-safe."""

    def __init__(self, key: bytes | None = None, clock=time.time, lifetime: float = STATE_LIFETIME_SECONDS):
        # Keyed once and copied per state: a fresh HMAC (hmac.new, hmac.digest) looks the digest up
        # in OpenSSL every time, which under concurrent requests took more than the rest of /api/url.
        self._keyed_mac = hmac.new(key or secrets.token_bytes(32), digestmod=hashlib.sha256)
        self._clock = clock
        self._lifetime = lifetime
        self._outstanding: OrderedDict[str, tuple] = OrderedDict()  # nonce -> (expiry, browser key digest)
        self._parked: OrderedDict[str, tuple] = OrderedDict()  # nonce -> (expiry, request_token)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def issue(self, browser_key: str | None = None) -> str:
        """A fresh state for one login attempt, bound to `browser_key` (None: to nothing, for curl)."""
        # Unique, not secret: the HMAC makes a state unforgeable, and a counter spares a system call.
        nonce = f"{next(self._counter):x}"
        expiry = int(self._clock() + self._lifetime)
        with self._lock:
            self._forget_expired()
            self._outstanding[nonce] = (expiry, _digest(browser_key))
            while len(self._outstanding) > MAX_OUTSTANDING_STATES:
                self._outstanding.popitem(last=False)
        return f"{nonce}.{expiry}.{self._sign(nonce, expiry)}"

    def redeem(self, state, browser_key: str | None = None) -> str:
        """Accept `state` once; returns "bound" or UNBOUND; raises InvalidStateError with the reason
        otherwise (OtherBrowserError, leaving the state for its own browser, when the key is wrong)."""
        if not isinstance(state, str) or not state:
            raise InvalidStateError("The login did not start from this service (no state).")
        parts = state.split(".")
        # isascii: str.isdigit() is also true of '²' and other digits int() refuses
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()) or len(state) > 200:
            raise InvalidStateError("The login state is malformed.")
        nonce, expiry, signature = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(signature.encode("ascii", "replace"), self._sign(nonce, expiry).encode()):
            raise InvalidStateError("The login state was not issued by this service.")
        with self._lock:
            if self._clock() > expiry:
                self._outstanding.pop(nonce, None)
                raise InvalidStateError("The login link expired (it is valid for 10 minutes).")
            outstanding = self._outstanding.get(nonce)
            if outstanding is None:
                raise InvalidStateError("This login link was already used (or is no longer valid); start a new login.")
            bound_to = outstanding[1]
            if bound_to is not None and not hmac.compare_digest(bound_to, _digest(browser_key) or b""):
                raise OtherBrowserError(
                    "This login was started in another browser (or this one did not send its cookie back). "
                    "Start the login again in this browser."
                )
            del self._outstanding[nonce]
        return UNBOUND if bound_to is None else "bound"

    def park(self, state: str, request_token: str) -> None:
        """Keep an unbound login's request_token (in memory, until the state's expiry) for finish()."""
        nonce, expiry, _signature = state.split(".")
        with self._lock:
            self._parked[nonce] = (int(expiry), request_token)
            while len(self._parked) > MAX_OUTSTANDING_STATES:
                self._parked.popitem(last=False)

    def finish(self, state) -> str:
        """The request_token parked for `state`, once; InvalidStateError if there is none (any more)."""
        parts = state.split(".") if isinstance(state, str) and len(state) <= 200 else ()
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            raise InvalidStateError("The login state is malformed.")
        nonce, expiry, signature = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(signature.encode("ascii", "replace"), self._sign(nonce, expiry).encode()):
            raise InvalidStateError("The login state was not issued by this service.")
        with self._lock:
            parked = self._parked.pop(nonce, None)
        if parked is None or self._clock() > parked[0]:
            raise InvalidStateError("This login was finished already or has expired; start a new login.")
        return parked[1]

    def receipt(self, state: str, browser_key: str | None) -> str:
        """Proof, for the page the browser lands on after the callback, that this browser's login
        began with the access code (a state is only issued after it): `<nonce>.<expiry>.<hmac>`,
        good only with the same browser key."""
        nonce, expiry, _signature = state.split(".")
        return f"{nonce}.{expiry}.{self._sign(_receipt_message(nonce, browser_key), int(expiry))}"

    def receipt_ok(self, receipt, browser_key: str | None) -> bool:
        """True for a receipt this service made for this browser key, within the login state's 10 minutes."""
        parts = receipt.split(".") if isinstance(receipt, str) and len(receipt) <= 200 else ()
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            return False
        nonce, expiry, signature = parts[0], int(parts[1]), parts[2]
        expected = self._sign(_receipt_message(nonce, browser_key), expiry).encode()
        return hmac.compare_digest(signature.encode("ascii", "replace"), expected) and self._clock() <= expiry

    def _sign(self, nonce: str, expiry: int) -> str:
        message = f"{nonce}.{expiry}".encode("utf-8", "replace")
        mac = self._keyed_mac.copy()
        mac.update(message)
        return mac.hexdigest()

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._outstanding:  # insertion order is expiry order: stop at the first live one
            nonce, (expiry, _bound_to) = next(iter(self._outstanding.items()))
            if expiry >= now:
                break
            del self._outstanding[nonce]


def _digest(browser_key: str | None) -> bytes | None:
    return None if browser_key is None else hashlib.sha256(browser_key.encode("utf-8", "replace")).digest()


def _receipt_message(nonce: str, browser_key: str | None) -> str:
    bound = _digest(browser_key).hex() if browser_key else "-"
    return f"receipt:{nonce}:{bound}"
