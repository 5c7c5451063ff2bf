"""The kill switch's door on HTTP, behind the access code (`kite_app.py kill` uses it):

    POST /api/kill           {"client": NAME (optional), "reason": TEXT}: latch now, then flatten
    GET  /api/kill           the latches in force and each run's report, step by step
    POST /api/kill/reset     {"client": NAME (optional), "confirm": "RESET"}: the latch removed

A pull answers 202 at once with the report so far (the latch is on by then); the steps follow.
"""

from flask import Blueprint, jsonify, request

from kite_service.guard.latch import ACCOUNT
from kite_service.login.access_code import require_access_code
from kite_service.runtime.context import current_context

kill = Blueprint("kill", __name__, url_prefix="/api")
RESET_WORD = "RESET"


def _body() -> dict:
    """The request's JSON object or form; ValueError for a body that is neither."""
    if not request.is_json:
        return request.form.to_dict()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError('Send a JSON object, e.g. {"reason": "runaway bot"}, or a form.')
    return body


def _client(body: dict):
    """The client named in the body (None: the account); a ValueError for one that does not exist."""
    name = body.get("client")
    if name is None or name == "":
        return None
    names = {client.name for client in current_context().gateway.clients.all()}
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"No gateway client named {str(name)[:40]!r}: `python kite_app.py clients list` shows them.")
    return name


@kill.post("/kill")
@require_access_code
def pull():
    try:
        body = _body()
        client = _client(body)
    except ValueError as exc:
        return jsonify({"status": "error", "message": str(exc)}), 400
    reason = body.get("reason")
    reason = "" if reason is None else reason
    if not isinstance(reason, str):
        return jsonify({"status": "error", "message": 'reason must be text, e.g. "runaway bot".'}), 400
    reason = reason[:200]
    pulled_by = str(body.get("by") or "POST /api/kill")[:40]
    report = current_context().kill_switch.pull(pulled_by, reason, client)
    return jsonify({"status": "success", "data": report}), 202


@kill.get("/kill")
@require_access_code
def reports():
    context = current_context()
    latches = {scope: latch.__dict__ for scope, latch in context.guard.latches.active().items()}
    return jsonify({"status": "success", "data": {"latches": latches, "runs": context.kill_switch.reports()}})


@kill.post("/kill/reset")
@require_access_code
def reset():
    try:
        body = _body()
    except ValueError as exc:
        return jsonify({"status": "error", "message": str(exc)}), 400
    if body.get("confirm") != RESET_WORD:
        message = f'Not reset: send "confirm": "{RESET_WORD}" to lift the kill switch (orders are allowed again).'
        return jsonify({"status": "error", "message": message}), 400
    try:
        client = _client(body)
    except ValueError as exc:
        return jsonify({"status": "error", "message": str(exc)}), 400
    was_on = current_context().kill_switch.reset(client)
    scope = client or ACCOUNT
    return jsonify({"status": "success", "data": {"scope": scope, "was_on": was_on}})
