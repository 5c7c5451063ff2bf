"""The sandbox's test hooks (/sandbox/control/<action>): pin a price, end every session as 06:00 IST would,
turn postbacks off, slow down or break one path. Each needs the sandbox's api_secret."""

from flask import request

from .error_responses import InputError, TokenError, success
from .faults import FAULT_KINDS


def control(sandbox, action: str):
    body = request.get_json(silent=True) or {}
    if body.get("api_secret") != sandbox.credentials.api_secret:
        raise TokenError("Sandbox control needs the sandbox api_secret.")
    if action == "price":
        instrument = sandbox.market.find(str(body.get("instrument", "")))
        if instrument is None:
            raise InputError("Unknown instrument.")
        sandbox.market.pin_price(instrument, body.get("price"))
        return success(True)
    if action == "postbacks":
        sandbox.posting["on"] = bool(body.get("enabled"))
        return success(True)
    if action == "expire-sessions":
        return success(sandbox.accounts.expire_all())
    if action == "delay":
        seconds = body.get("seconds")
        if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
            raise InputError("delay needs 'path' and 'seconds' between 0 and 60.")
        sandbox.delays[str(body.get("path"))] = seconds
        return success(True)
    if action == "fault":
        kind, times = body.get("kind"), body.get("times", 1)
        if (kind is not None and kind not in FAULT_KINDS) or not isinstance(times, int):
            raise InputError(f"fault needs 'path', 'kind' (one of {', '.join(FAULT_KINDS)} or null) and 'times'.")
        sandbox.faults.set(str(body.get("path")), kind, times)
        return success(True)
    raise InputError(f"Unknown control action: {action}")
