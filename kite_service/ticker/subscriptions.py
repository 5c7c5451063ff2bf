"""Which instruments the hub's local clients want, and what its connections to Kite must carry.

Subscriptions are counted across clients: an instrument is subscribed upstream once, in the
richest mode any client wants, and dropped when the last client leaves it. Kite allows 3
connections per api_key with 3,000 instruments each. An instrument stays on the connection it was
first given (moving it would cost an unsubscribe, a subscribe and a gap); a new one goes to the
first connection with room, so that few instruments need few connections (the first is the one
that also brings the order updates). Bookkeeping only: no I/O and no lock (the hub holds one).
"""

from kite_service.ticker.frames import MODES, QUOTE, RANK

MAX_CONNECTIONS = 3  # Kite's WebSocket connections per api_key
MAX_INSTRUMENTS_PER_CONNECTION = 3000
DEFAULT_MODE = QUOTE  # Kite: a new subscription is in quote mode until a mode message says otherwise
MAX_TOKEN = 2**32 - 1  # an instrument token is an unsigned 32-bit number (the first 4 bytes of a packet)


def is_token(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN


class SubscriptionBook:
    """Each client's {token: mode}, and each upstream connection's {token: mode} that follows from them."""

    def __init__(self, connections: int = MAX_CONNECTIONS, per_connection: int = MAX_INSTRUMENTS_PER_CONNECTION):
        self.connections = connections
        self.per_connection = per_connection
        self._clients: dict = {}  # client -> {token: mode}
        self._counts: dict = {}  # token -> [clients in ltp, in quote, in full]
        self._placed: dict = {}  # token -> the upstream connection carrying it
        self._load = [0] * connections  # instruments per upstream connection

    @property
    def capacity(self) -> int:
        return self.connections * self.per_connection

    def wants(self, client) -> dict:
        """The client's {token: mode} (its own dict: read it under the hub's lock, do not change it)."""
        return self._clients.get(client, {})

    def plan_of(self, client) -> dict:
        """The client's {upstream connection: {mode: tuple of tokens}}: what each frame is cut to for it."""
        plan: dict = {}
        for token, mode in self._clients.get(client, {}).items():
            plan.setdefault(self._placed[token], {}).setdefault(mode, []).append(token)
        return {place: {mode: tuple(tokens) for mode, tokens in modes.items()} for place, modes in plan.items()}

    def clients(self) -> list:
        return list(self._clients)

    def subscribe(self, client, tokens, most: int | None = None, share_note: str = "") -> str | None:
        """Add `tokens` to the client's in the default mode, at most `most` new ones (its program's
        share left, which `share_note` explains); an error text when not all of them fit or some are
        not instrument tokens."""
        wants = self._clients.setdefault(client, {})
        refused = not_tokens = over_share = 0
        for token in tokens:
            if not is_token(token):
                not_tokens += 1
                continue
            if token in wants:
                continue
            if most is not None and most <= 0:
                over_share += 1
                continue
            if token not in self._placed:
                place = self._first_with_room()
                if place is None:
                    refused += 1
                    continue
                self._placed[token] = place
                self._load[place] += 1
                self._counts[token] = [0, 0, 0]
            wants[token] = DEFAULT_MODE
            self._counts[token][RANK[DEFAULT_MODE]] += 1
            most = None if most is None else most - 1
        if not_tokens:
            return f"{not_tokens} not subscribed: not instrument tokens (whole numbers from 0 to {MAX_TOKEN})"
        if over_share:
            return f"{over_share} not subscribed: {share_note or 'beyond this program share'}"
        if refused:
            return (
                f"Maximum of {self.capacity} instruments reached ({self.connections} connections of "
                f"{self.per_connection} each, shared by this machine's programs): {refused} not subscribed"
            )
        return None

    def set_mode(self, client, mode: str, tokens) -> str | None:
        """Put the client's `tokens` (those it has) in `mode`; an error text for an unknown mode."""
        if mode not in MODES:
            return f"Invalid mode {str(mode)[:20]!r}: one of {', '.join(MODES)}"
        wants = self._clients.get(client, {})
        for token in tokens:
            old = wants.get(token) if isinstance(token, int) else None
            if old is not None and old != mode:
                counts = self._counts[token]
                counts[RANK[old]] -= 1
                counts[RANK[mode]] += 1
                wants[token] = mode
        return None

    def unsubscribe(self, client, tokens) -> None:
        wants = self._clients.get(client, {})
        for token in tokens:
            mode = wants.pop(token, None) if isinstance(token, int) else None
            if mode is not None:
                self._release(token, mode)

    def remove(self, client) -> None:
        """Forget a client that left: its instruments no other client wants leave upstream."""
        for token, mode in self._clients.pop(client, {}).items():
            self._release(token, mode)

    def upstream(self) -> list:
        """For each upstream connection, the {token: mode} it must carry (the richest mode wanted)."""
        plan = [{} for _ in range(self.connections)]
        for token, place in self._placed.items():
            counts = self._counts[token]
            plan[place][token] = MODES[2 if counts[2] else (1 if counts[1] else 0)]
        return plan

    def load(self) -> list:
        """Instruments per upstream connection."""
        return list(self._load)

    def _first_with_room(self) -> int | None:
        for place, load in enumerate(self._load):
            if load < self.per_connection:
                return place
        return None

    def _release(self, token: int, mode: str) -> None:
        counts = self._counts[token]
        counts[RANK[mode]] -= 1
        if not any(counts):
            del self._counts[token]
            self._load[self._placed.pop(token)] -= 1
