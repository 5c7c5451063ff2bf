"""Where notifications go: a generic JSON webhook and Telegram.

Each notifier's `send()` makes one bounded HTTP call and raises NotifierError on any failure;
retrying is the outbox's job (notifications/outbox.py).
"""

import requests

from kite_service.logs.redaction import register_secret

SEND_TIMEOUT_SECONDS = 5
TELEGRAM_API_BASE = "https://api.telegram.org"


class NotifierError(Exception):
    """A notification could not be delivered; `retry_after` is a hint from the receiver (seconds)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class WebhookNotifier:
    """POSTs each notification as JSON to ORDER_WEBHOOK_URL."""

    name = "webhook"

    def __init__(self, url: str, session: requests.Session | None = None, timeout: float = SEND_TIMEOUT_SECONDS):
        self._url = url
        self._session = session or requests.Session()
        self._timeout = timeout

    def send(self, notification: dict) -> None:
        """Deliver one notification; any status other than 2xx is a failure."""
        _post(self._session, self._url, notification, self._timeout, what="webhook")


class TelegramNotifier:
    """Sends each notification's text to one chat through the Telegram Bot API."""

    name = "telegram"

    def __init__(
        self,
        bot_token: str,
        chat_id: str,
        api_base: str = TELEGRAM_API_BASE,
        session: requests.Session | None = None,
        timeout: float = SEND_TIMEOUT_SECONDS,
    ):
        register_secret(bot_token)
        self._url = f"{api_base.rstrip('/')}/bot{bot_token}/sendMessage"
        self._chat_id = chat_id
        self._session = session or requests.Session()
        self._timeout = timeout

    def send(self, notification: dict) -> None:
        """Deliver one notification's text to the chat."""
        body = {"chat_id": self._chat_id, "text": notification["text"], "disable_web_page_preview": True}
        _post(self._session, self._url, body, self._timeout, what="Telegram")


def _post(session: requests.Session, url: str, body: dict, timeout: float, what: str) -> None:
    try:
        response = session.post(url, json=body, timeout=timeout)
    except requests.Timeout:
        raise NotifierError(f"{what} did not answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        # requests' messages contain the URL, which for Telegram holds the bot token.
        raise NotifierError(f"{what} unreachable ({type(exc).__name__})") from None
    if 200 <= response.status_code < 300:
        return
    retry_after = None
    if response.status_code == 429:
        retry_after = _retry_after(response)
    raise NotifierError(f"{what} answered HTTP {response.status_code}", retry_after=retry_after)


def _retry_after(response) -> float | None:
    header = response.headers.get("Retry-After")
    try:
        if header is not None:
            return float(header)
        return float(response.json()["parameters"]["retry_after"])  # Telegram's own field
    except (ValueError, KeyError, TypeError):
        return None
