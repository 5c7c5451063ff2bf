"""One program of the account for the gateway benchmark: python bench/gateway_worker.py CONFIG_JSON

CONFIG_JSON: {"kind": "kiteapi" | "official", "seconds", "values" (settings for KiteAPI), "api_key",
"access_token", "root" (the gateway's, for the official client), "price", "out"}. It places orders and
reads quotes, each in a thread of its own, as fast as it can; then writes its counts to "out" as JSON,
with the wall-clock times of its first and last order and quote answered (the benchmark's rates are
taken over the span in which the account's programs were at work, not over their start-up and the
last quote's wait for its slot).
"""

import json
import sys
import threading
import time

from kite_api import KiteAPI
from kite_service.config.settings import load_settings
from kite_service.kite.sdk import KiteConnect

REFUSED_PAUSE_SECONDS = 0.2  # a polite program pauses when the gateway says the account's limit is taken
KITES_OWN = ("Too many requests", "Maximum allowed order requests exceeded")  # the sandbox's 429s, as Kite's


def main(config: dict) -> None:
    if config["kind"] == "kiteapi":
        api = KiteAPI(load_settings(config["values"]))
        assert api.kite.root == config["root"], "KiteAPI did not go through the gateway"

        def place():
            api.place_order(**ORDER, price=config["price"])

        def quote():
            api.quote("NSE:INFY")
    else:
        kite = KiteConnect(config["api_key"], access_token=config["access_token"], root=config["root"])

        def place():
            kite.place_order("regular", **ORDER, price=config["price"])

        def quote():
            kite.quote(["NSE:INFY"])

    counts = {"orders": 0, "quotes": 0, "kite_429": 0, "refused_here": 0, "other_errors": 0}
    lock = threading.Lock()
    answered = {"orders": [], "quotes": []}  # wall-clock times of the first and last answer of each kind
    deadline = time.monotonic() + config["seconds"]

    def loop(name, call):  # orders and quotes each as fast as they go: each limit on its own
        while time.monotonic() < deadline:
            try:
                call()
                outcome = name
            except Exception as exc:  # noqa: BLE001 (every failure is counted by what it says)
                message = str(exc)
                if message.startswith("Too many requests:") or "Not sent" in message:
                    outcome = "refused_here"  # the gateway's (or KiteAPI's) own refusal: nothing reached Kite
                elif message.startswith(KITES_OWN):
                    outcome = "kite_429"
                else:
                    outcome = "other_errors"
            with lock:
                counts[outcome] += 1
                if outcome == name:
                    answered[name][1:] = [time.time()]  # [first] or [first, last]
            if outcome == "refused_here":
                time.sleep(REFUSED_PAUSE_SECONDS)

    threads = [
        threading.Thread(target=loop, args=("orders", place)),
        threading.Thread(target=loop, args=("quotes", quote)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts["answered"] = answered
    with open(config["out"], "w") as handle:
        json.dump(counts, handle)


ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1}
ORDER |= {"product": "CNC", "order_type": "LIMIT"}

if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
