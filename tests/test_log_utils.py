"""The redacting, date-stamped logger: redaction, escaping, daily files, retention."""

import logging
import os
import stat
from datetime import date
from unittest import mock

import pytest

import log_utils
from conftest import ist
from kite_service.logs.files import DailyFileHandler, purge_old_logs
from kite_service.logs.formatter import RedactingFormatter
from kite_service.logs.redaction import MAX_SHORT_LIVED, SecretRegistry, redact
from kite_service.logs.throttle import FloodFilter


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: token apikey:SECRET-TOKEN-1", "SECRET-TOKEN-1"),
        ("{'Authorization': 'token k:SECRET-TOKEN-2'}", "SECRET-TOKEN-2"),
        ('{"access_token": "SECRET-TOKEN-3", "user_id": "AB1234"}', "SECRET-TOKEN-3"),
        ("{'access_token': 'SECRET-TOKEN-4'}", "SECRET-TOKEN-4"),
        ("DELETE /session/token?api_key=k&access_token=SECRET-TOKEN-5", "SECRET-TOKEN-5"),
        ("GET /api/token?code=SECRET-CODE-6&request_token=SECRET-RT-6", "SECRET-CODE-6"),
        ("GET /api/token?code=x&request_token=SECRET-RT-7", "SECRET-RT-7"),
        ("api_key=k&request_token=rt&checksum=SECRETCHECKSUM8", "SECRETCHECKSUM8"),
        ('{"api_secret": "SECRET 9 with spaces"}', "SECRET 9"),
        ("password: SECRET-PASS-10", "SECRET-PASS-10"),
        ("request_token%3DSECRET-RT-11", "SECRET-RT-11"),
        ("status_code=access_token=SECRET-12", "SECRET-12"),  # a secret after a key that is not one
        ("Authorization: Bearer ***SECRET-13", "SECRET-13"),
        ("headers: X-Access-Code: SECRET-CODE-14", "SECRET-CODE-14"),  # the key starts 9 before its hint
        ("refresh_token=SECRET-RT-15", "SECRET-RT-15"),
        ("ACCESS_TOKEN=SECRET-TOKEN-12 Api_Secret: SECRET-13", "SECRET-TOKEN-12"),
        ("ACCESS_TOKEN=SECRET-TOKEN-12 Api_Secret: SECRET-13", "SECRET-13"),
    ],
)
def test_secret_shapes_are_redacted(text, secret):
    assert secret not in redact(text, SecretRegistry())
    assert log_utils.REDACTED in redact(text, SecretRegistry())


def test_text_that_lowercasing_resizes_is_redacted_exactly():
    # "İ".lower() is two characters long, so the lowercased copy no longer lines up with the text.
    text = "İstanbul İİ access_token=SECRET-TOKEN-14 ok; AUTHORIZATION: Bearer SECRET-15, done"
    expected = "İstanbul İİ access_token=*** ok; AUTHORIZATION: Bearer ***, done"
    assert redact(text, SecretRegistry()) == expected


def test_known_values_are_redacted_anywhere_including_url_encoded():
    registry = SecretRegistry()
    registry.add("my code/with+chars", "tiny")
    text = redact("said my code/with+chars and my%20code%2Fwith%2Bchars and tiny", registry)
    assert "my code" not in text and "my%20code" not in text
    assert "tiny" in text  # too short to register: would redact ordinary words


def test_a_known_secret_inside_a_longer_value_takes_the_whole_value_with_it():
    registry = SecretRegistry()
    registry.add("KNOWN-SECRET")
    text = "access_token=KNOWN-SECRET-and-more, {'api_secret': 'xKNOWN-SECRET'}, password=KNOWN-SECRET"
    assert redact(text, registry) == "access_token=***, {'api_secret': '***'}, password=***"


def test_ordinary_text_is_left_alone():
    text = "Order 1001 COMPLETE: BUY 10 NSE:INFY filled 10/10 @ 1500.5; error_code=403; HTTP 429"
    assert redact(text, SecretRegistry()) == text


def make_logger(tmp_path, registry):
    handler = DailyFileHandler(tmp_path)
    handler.setFormatter(RedactingFormatter(registry=registry))
    logger = logging.getLogger(f"test.{tmp_path.name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, handler


def test_percent_formatting_survives_and_no_record_is_dropped(tmp_path):
    registry = SecretRegistry()
    registry.add("planted-access-token")
    logger, handler = make_logger(tmp_path, registry)
    logger.info("polled %d orders in %.1f s for %s", 3, 0.25, "planted-access-token")
    try:
        raise ValueError("boom with access_token=planted-access-token in it")
    except ValueError:
        logger.exception("job failed for %s", {"access_token": "planted-access-token"})
    logger.info("stack", stack_info=True)
    handler.close()
    text = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert "polled 3 orders in 0.2 s for ***" in text or "polled 3 orders in 0.3 s for ***" in text
    assert "Traceback" in text and "ValueError" in text
    assert "planted-access-token" not in text


def test_file_name_is_the_ist_date_and_switches_at_ist_midnight(tmp_path):
    logger, handler = make_logger(tmp_path, SecretRegistry())
    before = ist(2026, 11, 20, 23, 59, 59).timestamp()  # 18:29:59 UTC
    after = ist(2026, 11, 21, 0, 0, 1).timestamp()
    for created, message in ((before, "late"), (after, "early")):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
        record.created = created
        logger.handle(record)
    handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kite_app_2026-11-20.log", "kite_app_2026-11-21.log"]
    assert "late" in (tmp_path / "kite_app_2026-11-20.log").read_text()
    assert "early" in (tmp_path / "kite_app_2026-11-21.log").read_text()
    assert stat.S_IMODE(os.stat(tmp_path / "kite_app_2026-11-21.log").st_mode) == 0o600
    assert "2026-11-21 00:00:01" in (tmp_path / "kite_app_2026-11-21.log").read_text()  # IST timestamps


def test_a_log_folder_that_cannot_be_written_never_breaks_the_caller(tmp_path, capsys):
    blocked = tmp_path / "logs"
    blocked.write_text("a file where the folder should be")
    logger, handler = make_logger(blocked, SecretRegistry())
    logger.info("order check done")  # must not raise into the order check
    handler.close()
    assert "order check done" in capsys.readouterr().err  # logging's own report of the failed record


def test_timestamps_are_ist_with_milliseconds_across_and_within_seconds():
    formatter = RedactingFormatter(fmt="%(asctime)s %(message)s")
    start = ist(2026, 11, 21, 9, 15, 0).timestamp()
    lines = []
    for offset in (0.25, 0.75, 1.5, 0.5, 86400.0):  # later, earlier and next-day records alike
        with mock.patch("time.time", return_value=start + offset):
            record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", (), None)
        lines.append(formatter.format(record))
    assert lines == [
        "2026-11-21 09:15:00,250 m",
        "2026-11-21 09:15:00,750 m",
        "2026-11-21 09:15:01,500 m",
        "2026-11-21 09:15:00,500 m",
        "2026-11-22 09:15:00,000 m",
    ]


def test_purge_keeps_recent_and_foreign_files(tmp_path):
    old = ["kite_app_2026-10-01.log", "kite_app_2026-10-22.log"]  # 31+ days before 2026-11-22
    kept = ["kite_app_2026-10-23.log", "kite_app_2026-11-22.log", "notes.log", "kite_app_2026-13-01.log"]
    for name in old + kept:
        (tmp_path / name).write_text("x")
    assert purge_old_logs(tmp_path, 30, date(2026, 11, 22)) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_setup_routes_third_party_loggers_through_redaction(settings, log_file):
    log_utils.register_secret("third-party-secret-value")
    logging.getLogger("apscheduler.executors.default").error("Job raised: third-party-secret-value")
    logging.getLogger("urllib3.connectionpool").warning("GET /x?access_token=abcdefgh12345")
    logging.getLogger("urllib3.connectionpool").debug("debug lines are quiet")
    text = log_file()
    assert "Job raised: ***" in text and "access_token=***" in text
    assert "third-party-secret-value" not in text and "abcdefgh12345" not in text
    assert "debug lines are quiet" not in text


def test_a_burst_of_requests_does_not_flood_the_log(settings, log_file):
    for depth in range(1, 50):
        logging.getLogger("waitress.queue").warning("Task queue depth is %d", depth)
    logging.getLogger("waitress").warning("a real waitress warning")
    text = log_file()
    assert "Task queue depth" not in text and "a real waitress warning" in text


def test_a_flood_of_a_librarys_lines_is_a_few_a_minute_and_a_count(settings, log_file):
    message = "socket.accept() out of system resource\nsocket: %s"
    for _ in range(12_000):  # asyncio when sockets meet the open-file limit, about 12,000 in 10 s
        logging.getLogger("asyncio").error(message, "<socket fd=5>")
    logging.getLogger("asyncio").error("another asyncio message")
    text = log_file()
    assert text.count("socket.accept() out of system resource") == 5 and "another asyncio message" in text
    filter_ = next(f for f in logging.getLogger("asyncio").filters if isinstance(f, FloodFilter))
    later = logging.LogRecord("asyncio", logging.ERROR, "", 0, message, ("<socket fd=6>",), None)
    with mock.patch.object(filter_, "_clock", lambda: 10**9):  # a minute on
        assert filter_.filter(later) and "11995 more like it" in later.getMessage()


def test_short_lived_secrets_are_bounded_but_the_recent_ones_redacted():
    registry = SecretRegistry()
    registry.add("lasting-secret-value")
    for n in range(1000):
        registry.add(f"request-token-{n:04d}", short_lived=True)
    assert len(registry.values()) <= 2 * (MAX_SHORT_LIVED + 1)
    text = redact("a lasting-secret-value b request-token-0999 c", registry)
    assert "lasting-secret-value" not in text and "request-token-0999" not in text
