"""The gateway's Kite Connect v3 endpoint: a program's own credentials in, today's real session out.

The official clients use it unchanged with their root set to the service (Kite's paths at the root
of its host:port). Each call is checked (the caller's address, the program's credentials, today's
session, read-only clients, Kite's limits for the whole account), sent once to the configured Kite
root with the real access token, and Kite's answer (status, content type, body) goes back as it
is. Refusals are Kite's error JSON with Kite's status, so the clients raise the exception they
would raise at Kite.

A WSGI app of its own in front of the service's Flask app: Kite's paths come here, the rest go on
to Flask. Flask's per-request machinery (contexts, routing, hooks) cost a third of what the
gateway added to a call (bench section 11), and none of it is needed here.
"""

import json
import logging
from urllib.parse import parse_qsl, urlencode

import urllib3
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from kite_service.clock import as_ist
from kite_service.data.order_fit import placement_orders
from kite_service.errors import OrderCapError
from kite_service.gateway.addresses import UNTRUSTED_FORWARDING, is_allowed_address, untrusted_forwarding
from kite_service.gateway.clients import ClientError
from kite_service.gateway.kite_routes import FIRST_SEGMENTS, KiteCall
from kite_service.gateway.slots import NoSlotError
from kite_service.guard.rules import GuardRefusal, KillSwitchOn
from kite_service.kite.rate_limit import shared_limiters, shared_order_caps, unlimited_limiters
from kite_service.paper.app import answer_paper_call, is_market_read
from kite_service.runtime.context import EXTENSION, no_session_message
from kite_service.web.guards import MISDIRECTED, allowed_hosts, is_unknown_host
from kite_service.web.http_server import MAX_REQUEST_BYTES

log = logging.getLogger("kite_app.gateway")

MAX_WAIT_SECONDS = 5.0  # a call that would wait longer for its rate-limit slot is answered 429 at once
TAG_LENGTH = 20  # Kite's limit on an order's tag
PASSED_BACK_HEADERS = ("Content-Type", "Content-Disposition")  # Kite's answer's own; the rest are transport
METHODS = ("GET", "POST", "PUT", "DELETE")  # what Kite's routes take
OWN_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}  # as on every answer of the service

UNLIMITED = unlimited_limiters()  # RATE_LIMITS=off: a sandbox started without Kite's limits
_KITE_SEGMENTS = frozenset(FIRST_SEGMENTS)


def kite_error(status: int, error_type: str, message: str) -> Response:
    """Kite's error envelope, as the official clients expect it."""
    body = json.dumps({"status": "error", "message": message, "data": None, "error_type": error_type})
    response = Response(body, status=status, mimetype="application/json")
    response.refused_by_gateway = True  # never reached Kite
    return response


def mount_gateway(app) -> None:
    """Put the gateway in front of the Flask app `app`: Kite's paths to it, the rest to Flask."""
    context = app.extensions[EXTENSION]
    app.wsgi_app = GatewayEndpoint(app.wsgi_app, context, allowed_hosts(context.settings))


class GatewayEndpoint:
    """WSGI: requests for Kite's paths answered by the gateway; every other one passed to `service`."""

    def __init__(self, service, context, hosts: frozenset):
        self._service = service
        self._context = context
        self._hosts = hosts

    def __call__(self, environ, start_response):
        segments = environ.get("PATH_INFO", "").split("/", 2)
        if len(segments) < 2 or segments[1] not in _KITE_SEGMENTS:
            return self._service(environ, start_response)
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        try:
            response = self._handle(request)
        except HTTPException as exc:  # werkzeug's refusals (a body over the cap: 413)
            code = exc.code or 400
            response = kite_error(code, "InputException" if code < 500 else "GeneralException", exc.description)
        except Exception:
            log.exception("Gateway: unexpected error in %s %s", request.method, request.path)
            response = kite_error(500, "GeneralException", "Internal error in Kite App's gateway; see its log.")
        response.headers.update(OWN_HEADERS)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        context = self._context
        if is_unknown_host(request, self._hosts, context.refusals):
            return kite_error(421, "InputException", MISDIRECTED)
        if request.method not in METHODS:
            response = kite_error(405, "InputException", f"{request.method} is not a method of Kite's API.")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        # Behind a reverse proxy the caller's address is the proxy's, unless TRUSTED_PROXY names it.
        if not is_allowed_address(request.remote_addr, context.settings.gateway_allowed_networks):
            address = request.remote_addr
            context.refusals.warning(
                "gateway calls from addresses not allowed", "Gateway: refused a call from %s", address
            )
            return kite_error(
                403,
                "PermissionException",
                f"Kite App's gateway takes no calls from {address}: on the machine that runs Kite App, add it to "
                "GATEWAY_ALLOWED_ADDRESSES and restart.",
            )
        forwarded = untrusted_forwarding(request.remote_addr, request.headers, context.settings.trusted_proxy)
        if forwarded:
            context.refusals.warning(
                "gateway calls forwarded by an unnamed proxy",
                "Gateway: refused a call carrying %s from %s while TRUSTED_PROXY is unset",
                forwarded,
                request.remote_addr,
            )
            return kite_error(403, "PermissionException", UNTRUSTED_FORWARDING.format(header=forwarded))
        call = KiteCall(request.method, request.path)
        problem = call.path_problem
        if problem:
            return kite_error(400, "InputException", problem)
        if not call.known:
            return kite_error(404, "GeneralException", "Route not found")
        key, _, token = request.headers.get("Authorization", "").removeprefix("token ").partition(":")
        try:
            client = context.gateway.clients.authenticate(key, token)
        except ClientError as exc:
            log.error("Gateway: %s", exc)
            return kite_error(503, "GeneralException", "Kite App's gateway cannot read its clients; see its log.")
        if client is None:
            return kite_error(403, "TokenException", "Incorrect `api_key` or `access_token`.")
        try:
            with context.gateway.slots.hold(call.slot_class, client.name):
                response = _answer(context, request, call, client)
        except NoSlotError as exc:
            response = kite_error(429, "NetworkException", str(exc))
        now, refused = context.clock(), getattr(response, "refused_by_gateway", False)
        context.gateway.audit.count(now, client.name, order=call.is_order_call, refused=refused)
        if call.changes_the_account:  # orders, GTTs, mutual funds, alerts, conversions, sessions: who did what
            fields = getattr(response, "sent_fields", None) or request.form.to_dict()
            try:
                answer = response.get_data(as_text=True)
                context.gateway.audit.record(
                    now, client.name, call.method, call.path, fields, response.status_code, answer, refused=refused
                )
            except OSError as exc:
                log.error("Gateway audit: no line for %s's %s %s: %s", client.name, call.method, call.path, exc)
        return response


def _answer(context, request: Request, call: KiteCall, client) -> Response:
    """Kite's answer to `call` for `client`, or the gateway's refusal."""
    if call.is_session:
        return kite_error(
            403,
            "PermissionException",
            "Sessions come from Kite App's daily login, not from programs: log in at "
            f"{context.settings.service_url}/login, and keep using your gateway credentials.",
        )
    if client.paper:  # its orders and money are a paper account's: answered there, nothing sent to Kite
        return _paper_answer(context, request, call, client)
    if call.changes_the_account and not client.can_trade:
        return kite_error(
            403,
            "PermissionException",
            f"Client {client.name!r} is read-only: nothing was sent to Kite. Add a client with --trade for orders.",
        )
    session = context.store.load()
    if session is None or session.is_expired(context.clock()):
        return kite_error(403, "TokenException", no_session_message(context.settings))
    if not call.changes_the_account:
        return _sent(context, request, call, client, session)
    guard = context.guard
    request.get_data()  # kept: the form is read for the check, the body is sent as it came
    with guard.sending():  # the kill switch's latch waits for a call between its check and its send
        try:
            guard.check(call.method, call.path, request.form.to_dict(), client.name, client)
        except (GuardRefusal, KillSwitchOn) as refusal:
            error_type = "PermissionException" if isinstance(refusal, KillSwitchOn) else "InputException"
            return kite_error(refusal.code, error_type, str(refusal))
        return _sent(context, request, call, client, session)


def _paper_answer(context, request: Request, call: KiteCall, client) -> Response:
    """A paper client's call, checked by the guard like any order call, answered by kite_service/paper;
    the paper app can reach Kite only through `read_from_kite`, which sends market reads alone."""

    def read_from_kite(read: KiteCall) -> Response:
        if not is_market_read(read.method, read.path):  # never reached: the paper app sends only these
            return kite_error(403, "PermissionException", "A paper client's call that is not a market read.")
        session = context.store.load()
        if session is None or session.is_expired(context.clock()):
            return kite_error(403, "TokenException", no_session_message(context.settings))
        return _sent(context, request, read, client, session)

    if not call.changes_the_account or is_market_read(call.method, call.path):
        return answer_paper_call(context.paper.app, request, client, read_from_kite, call)
    request.get_data()
    with context.guard.sending():  # as for a live order: a latch pulled now waits for this call's answer
        try:
            context.guard.check(call.method, call.path, request.form.to_dict(), client.name, client)
        except (GuardRefusal, KillSwitchOn) as refusal:
            error_type = "PermissionException" if isinstance(refusal, KillSwitchOn) else "InputException"
            return kite_error(refusal.code, error_type, str(refusal))
        return answer_paper_call(context.paper.app, request, client, read_from_kite, call)


def _sent(context, request: Request, call: KiteCall, client, session) -> Response:
    """Kite's answer to a call that passed every check (the account's limits still ahead)."""
    limits_on = context.settings.rate_limits
    limiter = (shared_limiters(context.credentials.api_key) if limits_on else UNLIMITED)[call.rate_class]
    if limiter.expected_wait() > MAX_WAIT_SECONDS:
        return kite_error(
            429,
            "NetworkException",
            f"Too many requests: the account's {call.rate_class} calls are taken for the next "
            f"{MAX_WAIT_SECONDS:g} s by this machine's programs; not sent to Kite, try again shortly.",
        )
    body = request.get_data() if request.method != "GET" else None  # Kite's GETs carry their query only
    if call.is_placement and limits_on:
        try:
            today = as_ist(context.clock()).date()
            orders = placement_orders(call.path.rsplit("/", 1)[-1], request.form, context.api.freeze_limits, today)
            shared_order_caps(context.credentials.api_key).take(orders=orders)
        except OrderCapError as cap:
            return kite_error(429, "NetworkException", str(cap))
    if call.is_placement:
        body = _tagged(request, body, client.name)
    headers = {
        "X-Kite-Version": "3",
        "Authorization": f"token {context.credentials.api_key}:{session.access_token}",
    }
    if request.content_type:
        headers["Content-Type"] = request.content_type
    path = request.path
    if request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    try:
        # Counted until Kite's answer begins, like every other call of the account (Kite counts a call
        # on arrival, before it answers); the body, megabytes for candles, is read after.
        with limiter.slot():
            answer = context.gateway.connections.request(
                request.method,
                path,
                body=body,
                headers=headers,
                timeout=context.settings.kite_timeout,
                redirect=False,
                preload_content=False,
            )
        try:
            data = answer.data
        finally:
            answer.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        log.warning("Gateway: %s %s for %s: Kite did not answer (%s)", call.method, call.path, client.name, exc)
        return kite_error(502, "NetworkException", "Kite did not answer; for an order, check the order book.")
    passed = {name: answer.headers[name] for name in PASSED_BACK_HEADERS if name in answer.headers}
    if call.is_placement and answer.status == 400:
        _learn_from_refusal(context, request, data)
    response = Response(data, status=answer.status, headers=passed)
    if call.changes_the_account and request.mimetype == "application/x-www-form-urlencoded":
        response.sent_fields = dict(parse_qsl(body.decode("utf-8", "replace")))  # for the audit: as sent
    return response


def _learn_from_refusal(context, request: Request, data: bytes) -> None:
    """Kite refused a placement: a freeze quantity named in its message is used for the rest of the day
    by every order path of the machine (kite_service/data/exchange_limits.py)."""
    try:
        message = json.loads(data).get("message", "")
    except (ValueError, AttributeError):
        return
    if isinstance(message, str):
        context.api.learn_from_refusal(request.form.to_dict(), message)


def _tagged(request: Request, body: bytes, name: str) -> bytes:
    """The order's form with `tag` set to the client's name, unless the program set one."""
    fields = request.form.to_dict(flat=False)
    if fields.get("tag"):
        return body
    fields["tag"] = [name[:TAG_LENGTH]]
    return urlencode(fields, doseq=True).encode()
