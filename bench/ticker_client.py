"""One official KiteTicker, in a process of its own, for the ticker load benchmark.

python bench/ticker_client.py WS_URL API_KEY ACCESS_TOKEN TOKENS_FILE SECONDS OUT_FILE

Subscribes to the tokens in full mode, then records for SECONDS: every message's arrival (for
the longest silence) and every tick's age, less its exchange timestamp, on arrival of its frame
and when on_ticks has it decoded. Writes the figures as JSON to OUT_FILE.
"""

import json
import sys
import threading
import time

from kiteconnect import KiteTicker

WARM_UP_SECONDS = 8  # the first second of 3,000 instruments is worked out cold


def main(url: str, api_key: str, access_token: str, tokens_file: str, seconds: float, out_file: str) -> None:
    tokens = json.loads(open(tokens_file).read())
    ticker = KiteTicker(api_key, access_token, root=url, reconnect=False)
    record = {"arrival_ages": [], "ages": [], "gaps": [], "stamps": {}, "errors": []}
    state = {"start": None, "last": None, "stop": None, "arrived": None}
    done = threading.Event()

    def on_connect(ws, response):
        ws.subscribe(tokens)
        ws.set_mode(ws.MODE_FULL, tokens)
        state["start"] = time.time() + WARM_UP_SECONDS
        state["stop"] = state["start"] + seconds

    def on_message(ws, payload, is_binary):
        now = state["arrived"] = time.time()  # KiteTicker decodes the frame after this
        if state["start"] is None or now < state["start"]:
            state["last"] = now
            return
        if state["last"] is not None:
            record["gaps"].append(now - state["last"])
        state["last"] = now
        if now >= state["stop"]:
            done.set()
            ws.close()

    def on_ticks(ws, ticks):
        now = time.time()
        if state["start"] is None or now < state["start"] or now >= state["stop"]:
            return
        for tick in ticks:  # ticks per exchange second, to count what each second delivered
            second = str(int(tick["exchange_timestamp"].timestamp()))
            record["stamps"][second] = record["stamps"].get(second, 0) + 1
        stamps = [tick["exchange_timestamp"].timestamp() for tick in ticks if "exchange_timestamp" in tick]
        record["arrival_ages"] += [state["arrived"] - stamp for stamp in stamps]
        record["ages"] += [now - stamp for stamp in stamps]

    def on_error(ws, code, reason):
        record["errors"].append(f"{code}: {reason}")

    def on_close(ws, code, reason):
        done.set()

    ticker.on_connect, ticker.on_message, ticker.on_ticks = on_connect, on_message, on_ticks
    ticker.on_error, ticker.on_close = on_error, on_close
    ticker.connect(threaded=True)
    done.wait(WARM_UP_SECONDS + seconds + 30)
    record["tokens"] = len(tokens)
    record["seconds"] = seconds
    with open(out_file, "w") as out:
        json.dump(record, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6])
