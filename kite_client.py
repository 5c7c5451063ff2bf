"""KiteConnect with Kite's rate limits applied and transient failures of reads retried.

Every kiteconnect call goes through KiteConnect._request, so overriding it covers the
convenience methods and direct use of the client alike. Only GET requests are retried;
orders (placement, modification, cancellation) are never sent twice by this code.
"""

import logging
import random
import time
from dataclasses import dataclass

import requests

import log_utils
from errors import KiteUnavailableError
from kite_sdk import KiteConnect, kite_errors
from rate_limit import endpoint_class, shared_limiters

log = logging.getLogger(__name__)

TRANSIENT_HTTP_CODES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for idempotent reads."""

    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        return min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.8, 1.0)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(retries=0)


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later identical read may not hit: network, 429, 5xx."""
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, (kite_errors.TokenException, kite_errors.InputException, kite_errors.PermissionException)):
        return False
    return isinstance(exc, kite_errors.KiteException) and exc.code in TRANSIENT_HTTP_CODES


class KiteClient(KiteConnect):
    """A KiteConnect that throttles per endpoint class and retries failed GETs."""

    def __init__(self, api_key, *, root=None, timeout=None, limiters=None, retry=DEFAULT_RETRY, sleep=time.sleep):
        super().__init__(api_key, root=root, timeout=timeout)
        self.limiters = limiters if limiters is not None else shared_limiters(api_key)
        self.retry = retry
        self._sleep = sleep

    def _request(self, route, method, *args, **kwargs):
        limiter = self.limiters[endpoint_class(route)]
        retries = self.retry.retries if method == "GET" else 0
        attempt = 0
        while True:
            limiter.acquire()
            try:
                return super()._request(route, method, *args, **kwargs)
            except requests.RequestException as exc:
                if attempt < retries and is_transient(exc):
                    attempt = self._wait_before_retry(route, method, exc, attempt)
                    continue
                raise KiteUnavailableError(
                    f"Kite did not answer {method} {self._routes[route]} at {self.root}: "
                    f"{type(exc).__name__}: {log_utils.redact(str(exc))}",
                    timed_out=isinstance(exc, requests.Timeout),
                ) from None
            except (KeyError, TypeError) as exc:
                # kiteconnect reads r.headers["content-type"] and the JSON envelope without checks.
                unreadable = kite_errors.DataException(
                    f"Kite's answer to {method} {self._routes[route]} was unreadable "
                    f"(no Content-Type or an unexpected body: {type(exc).__name__} {exc})",
                    code=502,
                )
                if attempt < retries:
                    attempt = self._wait_before_retry(route, method, unreadable, attempt)
                    continue
                raise unreadable from None
            except kite_errors.KiteException as exc:
                if attempt < retries and is_transient(exc):
                    attempt = self._wait_before_retry(route, method, exc, attempt)
                    continue
                raise

    def _wait_before_retry(self, route, method, exc, attempt) -> int:
        delay = self.retry.delay(attempt)
        # DEBUG: the caller reports a failure that outlasts the retries, once (a poll during an outage
        # would otherwise add two lines per attempt).
        log.debug(
            "Kite %s %s failed (%s); retry %d of %d in %.1f s",
            method,
            route,
            _describe(exc),
            attempt + 1,
            self.retry.retries,
            delay,
        )
        self._sleep(delay)
        return attempt + 1


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}" + (f" HTTP {code}" if code else "")
