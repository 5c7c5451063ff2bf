"""`python kite_app.py kill`: the kill switch from a terminal, through the running service.

    python kite_app.py kill --reason "runaway bot"      latch, cancel, square off, sweep; each step shown
    python kite_app.py kill --client my-bot              that client's orders and positions only
    python kite_app.py kill --reset [--client my-bot]    orders allowed again
    python kite_app.py kill --status                     the latches in force and the last reports

It talks to the service serving from the data folder (the sandbox's with --sandbox) with the access
code of `.env`; with no service running it says so and does nothing: the switch needs the service's
session and its lock on sending orders.
"""

import argparse
import sys
import time
from pathlib import Path

import requests

from kite_service.config.running_sandbox import SANDBOX_DIR
from kite_service.config.settings import Settings
from kite_service.gateway.local_client import running_gateway
from kite_service.guard.latch import ACCOUNT
from kite_service.login.access_code import HEADER

POLL_SECONDS = 0.5
EXTRA_SECONDS = 30  # beyond the sweep's time: the cancels and exits before it
NOT_FLAT = 3  # the exit code when the switch left something


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python kite_app.py kill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", help="one gateway client's orders and positions only")
    parser.add_argument("--reason", default="", help="why: shown in refusals, the report and notifications")
    parser.add_argument("--reset", action="store_true", help="lift the switch: orders are allowed again")
    parser.add_argument("--status", action="store_true", help="show the latches and the last reports")
    parser.add_argument("--sandbox", action="store_true", help="the switch of `kite_app.py --sandbox`")
    parser.add_argument("--sandbox-dir", type=Path, help="sandbox data folder (default sandbox_data/)")
    return parser.parse_args(argv)


def main(argv: list, settings: Settings, sandbox_code=None) -> int:
    """Run one kill command; the exit code (0 done, 1 no service, 2 refused, 3 not flat)."""
    args = parse_args(argv)
    folder = Path(args.sandbox_dir or SANDBOX_DIR) if args.sandbox else settings.data_dir
    serving = running_gateway(folder)
    if serving is None:
        print(f"kite_app: no Kite App serves from {folder}: nothing was done. Start it, then run kill again.")
        return 1
    code = sandbox_code(settings, folder) if args.sandbox and sandbox_code else settings.access_code
    root, headers = serving["root"].rstrip("/"), {HEADER: code}
    try:
        if args.status:
            return _show(requests.get(f"{root}/api/kill", headers=headers, timeout=10))
        if args.reset:
            answer = requests.post(
                f"{root}/api/kill/reset", json={"client": args.client, "confirm": "RESET"}, headers=headers, timeout=10
            )
            if answer.status_code != 200:
                return _refused(answer)
            data = answer.json()["data"]
            print(f"Kill switch ({data['scope']}) reset" + ("" if data["was_on"] else ": it was not on"))
            return 0
        body = {"client": args.client, "reason": args.reason, "by": "kill command"}
        answer = requests.post(f"{root}/api/kill", json=body, headers=headers, timeout=30)
        if answer.status_code != 202:
            return _refused(answer)
        return _follow(root, headers, args.client or ACCOUNT, answer.json()["data"])
    except requests.RequestException as exc:
        print(f"kite_app: the service at {root} did not answer ({type(exc).__name__}); check it at {root}/health")
        return 1


def _follow(root: str, headers: dict, scope: str, report: dict) -> int:
    """Print each step as it comes until the run is done; the exit code."""
    if report.get("already_on"):
        print(f"Kill switch ({scope}) was on already: nothing done twice.")
    shown = 0
    deadline = time.monotonic() + EXTRA_SECONDS + 600
    while True:
        steps = report.get("steps", [])
        for step in steps[shown:]:
            mark = "ok " if step["ok"] else "!! "
            print(f"{step['at'][11:23]}  {mark}{step['step']:7} {step['text']}", flush=True)
        shown = len(steps)
        if report.get("done") or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
        answer = requests.get(f"{root}/api/kill", headers=headers, timeout=10)
        report = answer.json()["data"]["runs"].get(scope, report)
    if report.get("left") or any(not step["ok"] for step in report.get("steps", [])):
        print(
            "Kill switch: NOT everything went as it should; see the lines marked !! and act by hand.", file=sys.stderr
        )
        return NOT_FLAT
    return 0


def _show(answer) -> int:
    if answer.status_code != 200:
        return _refused(answer)
    data = answer.json()["data"]
    if not data["latches"]:
        print("Kill switch: off")
    for scope, latch in data["latches"].items():
        print(f"Kill switch ({scope}): on since {latch['pulled_at']} by {latch['pulled_by']}, until {latch['until']}")
    for scope, run in data["runs"].items():
        print(f"Last run ({scope}): {len(run['steps'])} steps, {'done' if run['done'] else 'running'}")
    return 0


def _refused(answer) -> int:
    try:
        message = answer.json().get("message", answer.text)
    except ValueError:
        message = answer.text[:200]
    print(f"kite_app: {message}")
    return 2
