"""Kite's JSON envelopes and error types, as the sandbox answers them."""

import orjson
from flask import Response, jsonify


class KiteError(Exception):
    """An error answered as {"status": "error", "message", "error_type"} with Kite's HTTP code."""

    status = 500
    error_type = "GeneralException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TokenError(KiteError):
    status = 403
    error_type = "TokenException"


class InputError(KiteError):
    status = 400
    error_type = "InputException"


class PermissionDeniedError(KiteError):
    status = 403
    error_type = "PermissionException"


class OrderError(KiteError):
    status = 400
    error_type = "OrderException"


class NotFoundError(KiteError):
    status = 404
    error_type = "GeneralException"


class RateLimitedError(KiteError):
    status = 429
    error_type = "NetworkException"


def success(data):
    """Kite's success envelope, compact like Kite's (orjson: 60 days of minute candles in 17 ms, not 150)."""
    return Response(orjson.dumps({"status": "success", "data": data}), mimetype="application/json")


def failure(status: int, error_type: str, message: str):
    response = jsonify({"status": "error", "message": message, "error_type": error_type, "data": None})
    response.status_code = status
    return response
