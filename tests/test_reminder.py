"""The morning login reminder on trading days."""

import json

import pytest
import responses

from conftest import ist, make_session
from kite_app import create_app
from kite_service.login.reminder import LoginReminder, is_trading_day

WEBHOOK = "http://hooks.test/kite"


def test_trading_days_are_weekdays_except_listed_holidays():
    holidays = frozenset({ist(2026, 12, 25).date()})
    assert is_trading_day(ist(2026, 11, 23).date(), holidays)  # Monday
    assert not is_trading_day(ist(2026, 11, 22).date(), holidays)  # Sunday
    assert not is_trading_day(ist(2026, 12, 25).date(), holidays)


@pytest.mark.parametrize(
    ("moment", "session", "reminds"),
    [
        (ist(2026, 11, 23, 8, 45), None, True),
        (ist(2026, 11, 23, 8, 45), "yesterday", True),
        (ist(2026, 11, 23, 8, 45), "today", False),
        (ist(2026, 11, 22, 8, 45), None, False),
    ],
    ids=["missing", "expired", "logged-in", "sunday"],
)
def test_reminds_only_when_a_login_is_needed_on_a_trading_day(settings, store, moment, session, reminds):
    if session == "yesterday":
        store.save(make_session(login_time=ist(2026, 11, 20, 9, 0)))
    elif session == "today":
        store.save(make_session(login_time=ist(2026, 11, 23, 8, 30)))
    sent = []
    assert LoginReminder(settings, store, publish=sent.append, clock=lambda: moment).run() is reminds
    assert len(sent) == int(reminds)


def test_the_reminder_reaches_the_webhook_with_the_login_link(config, kite):
    config.update(ORDER_WEBHOOK_URL=WEBHOOK, PUBLIC_URL="https://kite.example.net/")
    context = create_app(config).extensions["kite_app"]
    context.reminder._clock = lambda: ist(2026, 11, 23, 8, 45)
    kite.add(responses.POST, WEBHOOK, json={"ok": True})
    assert context.reminder.run()
    assert context.reminder.run()  # run again the same day (say, after a restart)...
    context.notifications.deliver_due()
    [call] = kite.calls  # ...and still one message
    body = json.loads(call.request.body)
    assert body["event"] == "login_reminder"
    assert body["text"] == "Kite session missing: log in for today at https://kite.example.net/login"
    assert body["login_url"] == "https://kite.example.net/login"


def test_the_reminder_job_runs_at_the_configured_time(config):
    config.update(LOGIN_REMINDER_TIME="09:05")
    context = create_app(config).extensions["kite_app"]
    job = context.runner.scheduler.get_job("login_reminder")
    assert str(job.trigger) == "cron[hour='9', minute='5']"


def test_an_empty_reminder_time_turns_it_off(config):
    config.update(LOGIN_REMINDER_TIME="")
    context = create_app(config).extensions["kite_app"]
    assert context.runner.scheduler.get_job("login_reminder") is None
