"""The hub's local WebSocket server: handshakes checked and capped, connections watched.

At the handshake: the caller's address (GATEWAY_ALLOWED_ADDRESSES; behind TRUSTED_PROXY, the
address its X-Forwarded-For names; a loopback handshake carrying a forwarding header while
TRUSTED_PROXY is unset is refused, as the gateway refuses it), the program's gateway credentials
(HTTP 403, as Kite refuses its own), then the caps (HubCaps): connections of all programs together
and of each client, answered past a cap with Kite's 429 at the upgrade. Sockets that never finish
a handshake are closed after HANDSHAKE_SECONDS and capped at twice the connections, so a flood of
idle sockets cannot take the process's file descriptors. Open connections' credentials are checked
again every REVOCATION_CHECK_SECONDS: a revoked client's connections are closed with a reason.

`websockets`' asyncio server on one thread with its own event loop, which the hub's fan-out shares
(local_server.py says why).
"""

import asyncio
import json
import logging
import socket
import threading
from collections import Counter
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from kite_service.gateway.addresses import UNTRUSTED_FORWARDING, is_allowed_address, untrusted_forwarding
from kite_service.gateway.clients import ClientError
from kite_service.logs.throttle import LogThrottle
from kite_service.ticker.local_server import (
    CLOSE_TIMEOUT_SECONDS,
    HANDSHAKE_SECONDS,
    REVOCATION_CHECK_SECONDS,
    REVOKED_CLOSE_SECONDS,
    START_TIMEOUT_SECONDS,
    HubCaps,
    LocalClient,
    credentials,
)

log = logging.getLogger("kite_app.ticker_hub")
POLICY_VIOLATION = 1008  # RFC 6455: the close code of a connection refused by a rule


class HubServer:
    """The local WebSocket of `hub` on host:port; start() serves on a daemon thread, close() stops."""

    def __init__(
        self,
        hub,
        clients,
        host: str,
        port: int,
        allowed_networks: tuple = (),
        trusted_proxy: str = "",
        session_problem=lambda: None,
        caps: HubCaps | None = None,
    ):
        """`session_problem()`: why there can be no ticks now (no session for today), or None.
        The port is taken here: OSError if it is in use."""
        self._session_problem = session_problem
        self._hub = hub
        self._clients = clients
        self._allowed = allowed_networks
        self._trusted_proxy = trusted_proxy
        self.caps = caps or HubCaps()
        self._socket = socket.create_server((host, port))
        self.port = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = None
        self._serving = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._open: dict = {}  # LocalClient -> its GatewayClient (the loop's thread only)
        # Connections counted against the caps from their accepted handshake until their socket closes
        # (connection_lost): a client hears its handshake done before the server's handler runs, so
        # counting in the handler would let a third connection past a cap of two
        self._held: dict = {}  # ServerConnection -> client name
        self._per_client: Counter = Counter()  # client name -> connections held
        self._refusals = LogThrottle(log, per_minute=5)
        self.refused_too_many = 0  # upgrades answered 429, and sockets closed past the handshake cap

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.name = "ticker-hub"
        self._thread.start()
        if not self._serving.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError("The ticker hub's local WebSocket did not start: see the log")
        self._hub.deliver_through(self._call_in_loop)
        return self

    def close(self) -> None:
        if self._thread is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(CLOSE_TIMEOUT_SECONDS + 3)
        if not self._loop.is_running():
            self._loop.close()
        self._socket.close()

    def _call_in_loop(self, function, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(function, *args)
        except RuntimeError:  # the loop is closed: the service is stopping
            pass

    async def _run(self) -> None:
        self._stopping = asyncio.Event()
        hub_server = self

        class CappedConnection(ServerConnection):
            """A socket past the cap on sockets at once is closed as it comes, before any handshake."""

            def connection_made(self, transport) -> None:
                super().connection_made(transport)
                if len(self.server.handler_tasks) > 2 * hub_server.caps.connections:
                    hub_server.refused_too_many += 1
                    hub_server._refusals.warning(
                        "ticker hub sockets past the cap", "Ticker hub: closed a socket past the cap on sockets at once"
                    )
                    transport.abort()

            def connection_lost(self, exc) -> None:
                hub_server._release(self)
                super().connection_lost(exc)

        async with serve(
            self._serve,
            sock=self._socket,
            process_request=self._check_handshake,
            create_connection=CappedConnection,
            compression=None,
            open_timeout=HANDSHAKE_SECONDS,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            max_size=2**18,  # clients send subscriptions only: 9,000 ten-digit tokens in one message fit
        ) as server:
            self._serving.set()
            watcher = asyncio.create_task(self._watch_revocations())
            await self._stopping.wait()
            watcher.cancel()
            server.close(reason="Kite App is stopping")
            await server.wait_closed()

    async def _check_handshake(self, connection, request):
        address = connection.remote_address[0]
        forwarded = untrusted_forwarding(address, request.headers, self._trusted_proxy)
        if forwarded:
            self._refusals.warning(
                "ticker hub handshakes forwarded by an unnamed proxy",
                "Ticker hub: refused a handshake carrying %s while TRUSTED_PROXY is unset",
                forwarded,
            )
            return connection.respond(HTTPStatus.FORBIDDEN, UNTRUSTED_FORWARDING.format(header=forwarded) + "\n")
        if self._trusted_proxy and address == self._trusted_proxy:  # behind it: the caller is X-Forwarded-For's
            address = request.headers.get("X-Forwarded-For", address).rsplit(",", 1)[-1].strip()
        if not is_allowed_address(address, self._allowed):
            return connection.respond(HTTPStatus.FORBIDDEN, "This address may not use Kite App's ticker hub\n")
        program = await asyncio.to_thread(self._clients.authenticate, *credentials(request.path))
        if program is None:
            return connection.respond(HTTPStatus.FORBIDDEN, "Invalid api_key or access_token\n")
        problem = self._past_a_cap(program.name)
        if problem:
            self.refused_too_many += 1
            self._refusals.warning(
                "ticker hub connections past a cap", "Ticker hub: refused %s: %s", program.name, problem
            )
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, problem + "\n")
        self._held[connection] = program.name
        self._per_client[program.name] += 1
        return None

    def _release(self, connection) -> None:
        """A socket closed: its connection no longer counts against the caps (on the loop's thread)."""
        name = self._held.pop(connection, None)
        if name is not None:
            self._per_client[name] -= 1
            if not self._per_client[name]:
                del self._per_client[name]

    def _past_a_cap(self, name: str) -> str | None:
        """Why one more connection of client `name` is refused, or None (on the loop's thread)."""
        if self._per_client[name] >= self.caps.per_client:
            return (
                f"Too many connections: client {name!r} has {self.caps.per_client} to Kite App's ticker hub, its "
                "most (HUB_CONNECTIONS_PER_CLIENT); close one first"
            )
        if len(self._held) >= self.caps.connections:
            return (
                f"Too many connections: {self.caps.connections} programs' connections are open on Kite App's "
                "ticker hub, its most (HUB_MAX_CONNECTIONS); try again later"
            )
        return None

    async def _serve(self, websocket) -> None:
        program = await asyncio.to_thread(self._clients.authenticate, *credentials(websocket.request.path))
        if program is None:  # revoked between the handshake and now
            await websocket.close(POLICY_VIOLATION, "Invalid api_key or access_token")
            return
        client = LocalClient(program.name, websocket, self._loop)
        client.share = program.instruments or self.caps.instruments
        client.paper = program.paper  # a paper client hears its paper orders' updates, never the account's
        self._open[client] = program
        self._hub.add(client)
        sender = asyncio.create_task(client.send_queued())
        try:
            problem = await asyncio.to_thread(self._session_problem)
            if problem:  # connected all the same: ticks start once the service logs in
                client.offer(json.dumps({"type": "error", "data": problem}))
            async for message in websocket:
                if client.closed:
                    break  # dropped or revoked: nothing it says counts any more
                if isinstance(message, str):  # the hub's bookkeeping may talk to Kite: off the loop
                    problem = await asyncio.to_thread(self._hub.handle, client, message)
                    if problem:
                        client.offer(json.dumps({"type": "error", "data": problem}))
        except ConnectionClosed:
            pass
        finally:
            self._open.pop(client, None)
            await asyncio.to_thread(self._hub.remove, client)
            client.close()
            await sender

    async def _watch_revocations(self) -> None:
        """Close the connections of clients revoked since they connected (or whose token changed);
        give the others their share as `clients limits` last set it."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            if not self._open:
                continue
            try:
                current = {c.api_key: c for c in await asyncio.to_thread(self._clients.all)}
            except ClientError as exc:
                self._refusals.warning("ticker hub client checks", "Ticker hub: cannot check clients: %s", exc)
                continue
            for client, program in list(self._open.items()):
                now = current.get(program.api_key)
                if now is not None and now.token_sha256 == program.token_sha256:
                    client.share = now.instruments or self.caps.instruments  # `clients limits` applies at once
                elif not client.closed:
                    reason = f"Client {program.name!r} was revoked: no more ticks or order updates"
                    log.warning("Ticker hub: closed %s's connection: revoked", program.name)
                    self._open.pop(client, None)
                    await asyncio.to_thread(self._hub.remove, client)
                    client.close(POLICY_VIOLATION, reason, linger=REVOKED_CLOSE_SECONDS)
