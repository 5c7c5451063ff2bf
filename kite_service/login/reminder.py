"""The morning login reminder: on trading days, if there is no valid session, say where to log in."""

import logging

from kite_service.clock import now_ist

log = logging.getLogger("kite_app.reminder")


def is_trading_day(day, holidays: frozenset) -> bool:
    """Monday to Friday, except the dates listed in MARKET_HOLIDAYS."""
    return day.weekday() < 5 and day not in holidays


class LoginReminder:
    """Run daily at LOGIN_REMINDER_TIME; publishes one reminder per day when a login is needed."""

    def __init__(self, settings, store, publish=None, clock=now_ist):
        self._settings = settings
        self._store = store
        self._publish = publish
        self._clock = clock

    def run(self) -> bool:
        """Remind if today is a trading day and the session is missing or expired; returns whether it did."""
        now = self._clock()
        if not is_trading_day(now.date(), self._settings.market_holidays):
            return False
        state = self._store.state(now)
        if state == "valid":
            return False
        login_page = f"{self._settings.service_url}/login"
        text = f"Kite session {state}: log in for today at {login_page}"
        log.warning("%s", text)
        if self._publish is not None:
            self._publish(
                {
                    "event": "login_reminder",
                    "id": f"login-reminder:{now.date().isoformat()}",
                    "text": text,
                    "session_state": state,
                    "login_url": login_page,
                    "at": now.isoformat(timespec="seconds"),
                }
            )
        return True
