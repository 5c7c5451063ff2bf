"""Kite's ticker stood in for by prepared frames, for benchmark section 12, in a process of its own.

python bench/ticker_standin.py PORT

The sandbox's own ticker works every tick out from its price walk: about 0.7 s of CPU for each
second of 9,000 full ticks on the benchmark's 2 cores, shared there with the hub and 5 client
processes, so it fell behind and the section measured the stand-in as much as the hub. This one
speaks the same protocol (subscribe, unsubscribe, mode; a frame of each connection's instruments as
each second begins, a heartbeat when it has none) and sends packets made once per instrument, mode
and second's parity (the last price moves by a tick each second), so that what is left to measure
is the hub. It takes any api_key and access_token: the hub's credentials are tested elsewhere.
Built on `websockets`, as the sandbox's ticker and the hub are.
"""

import asyncio
import json
import sys
import time

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from kite_sandbox.ticker_packets import HEARTBEAT, MODE_QUOTE, MODES, Tick, frame, packet

_packets: dict = {}  # (token, mode, parity) -> packet


def prepared(token: int, mode: str, parity: int) -> bytes:
    key = (token, mode, parity)
    made = _packets.get(key)
    if made is None:
        last = 100.0 + 0.05 * parity
        tick = Tick(token, last, 1, last, 1000, 10, 10, 99.0, 101.0, 98.0, 99.5, int(time.time()), 0)
        made = _packets[key] = packet(tick, mode)
    return made


async def connection(websocket) -> None:
    wanted: dict = {}  # token -> mode

    async def read() -> None:
        async for message in websocket:
            if not isinstance(message, str):
                continue
            try:
                request = json.loads(message)
                action, value = request["a"], request["v"]
            except (ValueError, KeyError, TypeError):
                continue
            if action == "subscribe":
                for token in value:
                    wanted.setdefault(int(token), MODE_QUOTE)
            elif action == "unsubscribe":
                for token in value:
                    wanted.pop(int(token), None)
            elif action == "mode" and value[0] in MODES:
                for token in value[1]:
                    if int(token) in wanted:
                        wanted[int(token)] = value[0]

    reader = asyncio.create_task(read())
    try:
        while not reader.done():
            await asyncio.sleep(1 - time.time() % 1)
            parity = int(time.time()) % 2
            items = list(wanted.items())
            message = frame([prepared(token, mode, parity) for token, mode in items]) if items else HEARTBEAT
            await websocket.send(message)
    except ConnectionClosed:  # the hub went away: this connection is over
        pass
    finally:
        reader.cancel()


async def main(port: int) -> None:
    async with serve(connection, "127.0.0.1", port, max_size=None, ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
