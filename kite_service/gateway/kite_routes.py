"""Which Kite calls the gateway passes through, and what each is: taken from the official Python
client's own routes table (kiteconnect's KiteConnect._routes), so the gateway knows every route the
client knows, and the Go client's few more. The table names paths, not methods; the method and the
path together say what a call is.
"""

import re
from dataclasses import dataclass
from functools import cached_property

from kite_service.kite.rate_limit import HISTORICAL, ORDER_PLACEMENT, OTHER, QUOTE
from kite_service.kite.sdk import KiteConnect

_PARAMETER = re.compile(r"\{(\w+)\}")


def _pattern(path: str) -> str:
    """/orders/{variety} -> /orders/[^/]+ (Kite's paths hold letters, digits, '_' and '/' only)."""
    return _PARAMETER.sub("[^/]+", path)


# The official Go client's routes beyond the Python client's (gokiteconnect: user.go, portfolio.go, alerts.go).
GO_CLIENT_PATHS = (
    "/user/profile/full",
    "/portfolio/holdings/summary",
    "/portfolio/holdings/compact",
    "/alerts",
    "/alerts/{alert_id}",
    "/alerts/{alert_id}/history",
)
_PATHS = sorted(set(KiteConnect._routes.values()) | set(GO_CLIENT_PATHS))
# Every path the official clients know, as one expression (one match a call, not one per route).
KITE_PATHS = re.compile("|".join(_pattern(path) for path in _PATHS))  # fullmatch: "$" lets a final "\n" by
# What a Kite path holds after the one decoding the HTTP server does: letters, digits, "_", "-" (alert
# ids), "." inside a segment, "/". A "%" left means the path was encoded twice: Kite would decode it
# again into another path (historical data classed as an instrument list); control characters are
# never Kite's.
SAFE_PATH = re.compile(r"/[A-Za-z0-9_.\-/]*")
FIRST_SEGMENTS = tuple(sorted({path.split("/")[1] for path in _PATHS}))

# Sessions come from the daily login, never from a program: /session/token (create, and DELETE,
# which would log the whole account out) and the refresh-token routes.
SESSION_PATHS = ("/session/token", "/session/refresh_token")
# POSTs that only calculate (margins, charges): allowed to a read-only client like any read.
CALCULATIONS = ("/margins/orders", "/margins/basket", "/charges/orders")
ACCOUNT = "account changes"  # the slot class of every call that changes the account
ORDER_CALL = re.compile(r"/orders/[^/]+(/[^/]+)?")  # fullmatch. place: POST /orders/VARIETY; modify/cancel: PUT/DELETE


@dataclass(frozen=True)
class KiteCall:
    """One request to the gateway, as Kite would see it."""

    method: str
    path: str

    @property
    def path_problem(self) -> str | None:
        """Why the path cannot be sent as it is (the gateway refuses it), or None."""
        if not SAFE_PATH.fullmatch(self.path):
            return (
                "Kite App's gateway refuses this path: after decoding it holds characters no Kite path has "
                "(a '%' left from encoding twice, a control character, a space); send Kite's path as it is."
            )
        if any(segment in (".", "..") for segment in self.path.split("/")):
            return "Kite App's gateway refuses this path: it has '.' or '..' segments; send Kite's path as it is."
        return None

    @property
    def known(self) -> bool:
        return KITE_PATHS.fullmatch(self.path) is not None

    @property
    def is_session(self) -> bool:
        return self.path in SESSION_PATHS

    @cached_property  # asked several times a call (a frozen dataclass still caches in its __dict__)
    def is_order_call(self) -> bool:
        """Place, modify or cancel an order: sent once, never retried; audited; tagged with the client."""
        return self.method in ("POST", "PUT", "DELETE") and bool(ORDER_CALL.fullmatch(self.path))

    @property
    def is_placement(self) -> bool:
        return self.method == "POST" and self.is_order_call

    @property
    def changes_the_account(self) -> bool:
        """Anything but a read or a calculation: refused to a read-only client."""
        return self.method != "GET" and self.path not in CALCULATIONS

    @property
    def slot_class(self) -> str:
        """Which of the gateway's slots the call waits in (gateway/slots.py): whatever changes the
        account has slots of its own, so reads queued for their rate class never hold up an order."""
        return ACCOUNT if self.changes_the_account else self.rate_class

    @property
    def rate_class(self) -> str:
        if self.path in ("/quote", "/quote/ohlc", "/quote/ltp"):
            return QUOTE
        if self.path.startswith("/instruments/historical/"):
            return HISTORICAL
        return ORDER_PLACEMENT if self.is_placement else OTHER
