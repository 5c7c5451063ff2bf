"""Local clients of the ticker hub for benchmark section 12, in a process of their own.

python bench/hub_client.py CONFIG_JSON

CONFIG_JSON: {"url", "clients": [{"api_key", "access_token", "tokens", "mode", "official"}], "start_at",
"seconds", "out"}. At most one client per process is an official KiteTicker (twisted's reactor runs
once per process); the rest are the script ticker. Each counts the ticks it gets between start_at
and start_at + seconds (wall clock), and those in another mode or of instruments it did not ask
for; then all write their counts to "out" as JSON.
"""

import json
import sys
import time

from kite_service.ticker.script_ticker import ScriptTicker


def main(config: dict) -> None:
    start, end = config["start_at"], config["start_at"] + config["seconds"]
    records = []

    for client in config["clients"]:
        record = {"mode": client["mode"], "instruments": len(client["tokens"]), "ticks": 0, "wrong": 0}
        records.append(record)
        wanted = set(client["tokens"])

        def on_ticks(ticks, record=record, wanted=wanted, mode=client["mode"]):
            now = time.time()
            if start <= now < end:
                for tick in ticks:
                    if tick["mode"] == mode and tick["instrument_token"] in wanted:
                        record["ticks"] += 1
                    else:
                        record["wrong"] += 1

        if client["official"]:
            _official(config["url"], client, on_ticks)
        else:
            ticker = ScriptTicker(config["url"], client["api_key"], client["access_token"], on_ticks=on_ticks)
            ticker.subscribe(client["tokens"], client["mode"]).start()
    time.sleep(max(0.0, end - time.time()) + 1)
    with open(config["out"], "w") as handle:
        json.dump(records, handle)
    sys.stdout.flush()


def _official(url: str, client: dict, on_ticks) -> None:
    from kiteconnect import KiteTicker

    ticker = KiteTicker(client["api_key"], client["access_token"], root=url, reconnect=False)

    def on_connect(ws, response):
        ws.subscribe(client["tokens"])
        ws.set_mode(client["mode"], client["tokens"])

    ticker.on_connect = on_connect
    ticker.on_ticks = lambda ws, ticks: on_ticks(ticks)
    ticker.connect(threaded=True)  # twisted's reactor on a thread of its own, without signal handlers


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
    import os

    os._exit(0)  # the tickers' threads (and twisted's reactor) need no orderly end here
