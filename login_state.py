"""The signed, short-lived, single-use `state` that ties a Kite login redirect to this service.

The login URL that the service hands out carries `state` in Kite's `redirect_params`; Kite returns
it to /api/callback. A state is `<nonce>.<expiry>.<hmac>`: the HMAC (key: a random per-process
secret) proves this service issued it, the expiry bounds it to 10 minutes, and the nonce (a
counter) is accepted once. A restart forgets the key, so states issued before it simply stop working.
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


class LoginStates:
    """Issues and redeems login states; thread-safe."""

    def __init__(self, key: bytes | None = None, clock=time.time, lifetime: float = STATE_LIFETIME_SECONDS):
        # Keyed once and copied per state: a fresh HMAC (hmac.new, hmac.digest) looks the digest up
        # in OpenSSL every time, which under concurrent requests took more than the rest of /api/url.
        self._keyed_mac = hmac.new(key or secrets.token_bytes(32), digestmod=hashlib.sha256)
        self._clock = clock
        self._lifetime = lifetime
        self._outstanding: OrderedDict[str, float] = OrderedDict()  # nonce -> expiry
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A fresh state for one login attempt."""
        # Unique, not secret: the HMAC makes a state unforgeable, and a counter spares a system call.
        nonce = f"{next(self._counter):x}"
        expiry = int(self._clock() + self._lifetime)
        with self._lock:
            self._forget_expired()
            self._outstanding[nonce] = expiry
            while len(self._outstanding) > MAX_OUTSTANDING_STATES:
                self._outstanding.popitem(last=False)
        return f"{nonce}.{expiry}.{self._sign(nonce, expiry)}"

    def redeem(self, state) -> None:
        """Accept `state` once; raises InvalidStateError with the reason otherwise."""
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
            if self._outstanding.pop(nonce, None) is None:
                raise InvalidStateError("This login link was already used (or is no longer valid); start a new login.")

    def receipt(self, state: str) -> str:
        """Proof, for the page the browser lands on after the callback, that this browser's login
        began with the access code (a state is only issued after it): `<nonce>.<expiry>.<hmac>`."""
        nonce, expiry, _signature = state.split(".")
        return f"{nonce}.{expiry}.{self._sign('receipt:' + nonce, int(expiry))}"

    def receipt_ok(self, receipt) -> bool:
        """True for a receipt this service made, within the login state's 10 minutes."""
        parts = receipt.split(".") if isinstance(receipt, str) and len(receipt) <= 200 else ()
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            return False
        nonce, expiry, signature = parts[0], int(parts[1]), parts[2]
        expected = self._sign("receipt:" + nonce, expiry).encode()
        return hmac.compare_digest(signature.encode("ascii", "replace"), expected) and self._clock() <= expiry

    def _sign(self, nonce: str, expiry: int) -> str:
        message = f"{nonce}.{expiry}".encode("utf-8", "replace")
        mac = self._keyed_mac.copy()
        mac.update(message)
        return mac.hexdigest()

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._outstanding:  # insertion order is expiry order: stop at the first live one
            nonce, expiry = next(iter(self._outstanding.items()))
            if expiry >= now:
                break
            del self._outstanding[nonce]
