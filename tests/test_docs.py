"""The README's commands are the ones CI runs, and every documented setting exists."""

import re

from kite_service.config.settings import DEFAULTS, PROJECT_DIR

README = (PROJECT_DIR / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    ci = (PROJECT_DIR / ".ci" / "run").read_text()
    test_command = re.search(r"^\.venv/bin/python -m pytest.*$", ci, re.M).group(0)
    assert test_command in README


def test_every_setting_is_documented_in_readme_and_env_example():
    example = (PROJECT_DIR / ".env.example").read_text()
    for name in DEFAULTS:
        assert f"`{name}`" in README, name
        assert re.search(rf"^{name}=", example, re.M), name


def test_example_credentials_have_the_expected_fields():
    import json

    example = json.loads((PROJECT_DIR / "login_credentials.example.json").read_text())
    assert set(example) == {"api_key", "api_secret", "twofa_key"}


def stop_bounds() -> dict:
    """Seconds each part of the service may take to stop (kite_app.serve, then
    AppContext.stop_background_work, one after another), from the code's own defaults."""
    import inspect

    from waitress.task import ThreadedTaskDispatcher

    from kite_service.config.settings import load_settings
    from kite_service.kite.client import DEFAULT_RETRY
    from kite_service.notifications.outbox import Notifications
    from kite_service.orders.postback_followup import PostbackFollowUp
    from kite_service.orders.stream import OrderStream
    from scheduler import SchedulerRunner

    def default(function, name="timeout"):
        return inspect.signature(function).parameters[name].default

    retry = DEFAULT_RETRY
    backoff = sum(min(retry.max_delay, retry.base_delay * 2**attempt) for attempt in range(retry.retries))
    return {
        # waitress.server.run() closes the server on SystemExit and serve()'s finally closes it again:
        # each close waits this long for request threads.
        "waitress": 2 * default(ThreadedTaskDispatcher.shutdown),
        # stop() closes the socket (the closing handshake, close_timeout=2 in order_stream._listen),
        # then waits for the thread.
        "order stream": STREAM_CLOSE_TIMEOUT + default(OrderStream.stop),
        # The scheduler's shutdown waits for the running order check, at most this long (which covers
        # every attempt of one GET at the default KITE_TIMEOUT, with backoff).
        "order check": max(
            default(SchedulerRunner.stop), (retry.retries + 1) * load_settings({}).kite_timeout + backoff
        ),
        "postback lookups": default(PostbackFollowUp.stop),
        "notifier": default(Notifications.stop),
    }


STREAM_CLOSE_TIMEOUT = 2  # ticker/upstream.py opens the WebSocket with close_timeout=2
STOP_MARGIN_SECONDS = 30  # rate-limit waits, logging's shutdown, the interpreter's exit


def test_the_order_stream_closes_within_the_timeout_counted():
    import inspect

    from kite_service.ticker import upstream

    assert f"close_timeout={STREAM_CLOSE_TIMEOUT}," in inspect.getsource(upstream.UpstreamConnection)


def test_systemd_unit_restarts_keeps_files_private_and_outwaits_every_part_of_a_stop():
    import configparser

    unit_text = (PROJECT_DIR / "deploy" / "kite-app.service").read_text()
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read_string(unit_text)
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and service["UMask"] == "0077"
    assert service["ExecStart"].endswith("kite_app.py")  # binds 127.0.0.1 unless .env's HOST says otherwise
    bounds = stop_bounds()
    assert bounds == {
        "waitress": 10,
        "order stream": 12,
        "order check": 35,
        "postback lookups": 10,
        "notifier": 10,
    }, "a part's stop bound changed: update deploy/kite-app.service's list and TimeoutStopSec"
    total = sum(bounds.values())
    assert int(service["TimeoutStopSec"]) >= total + STOP_MARGIN_SECONDS
    assert f"together {total:g} s" in unit_text


def test_the_python_statement_matches_the_project_and_every_pin():
    """The README's minimum Python, pyproject's, the refusal on older ones, and what the pins need agree."""
    import tomllib
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    stated = re.search(r"Python (3\.\d+) or newer", README).group(1)
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={stated}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + stated.replace(".", "")
    check = tomllib.loads((PROJECT_DIR / "deploy" / "python-check" / "pyproject.toml").read_text())
    assert check["project"]["requires-python"] == f">={stated}"
    assert f"Requires-Python: >={stated}" in (PROJECT_DIR / "deploy" / "python-check" / "backend.py").read_text()
    requirements = (PROJECT_DIR / "requirements.txt").read_text()
    lines = [line for line in requirements.splitlines() if not line.startswith("#")]
    assert lines == [f'./deploy/python-check ; python_version < "{stated}"', "-e ."]  # the refusal comes first
    below = f"{stated.split('.')[0]}.{int(stated.split('.')[1]) - 1}"
    needs_stated = []
    pins = pyproject["project"]["dependencies"] + (PROJECT_DIR / "requirements-dev.txt").read_text().splitlines()
    for line in pins:
        match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if not match:
            continue
        requires = SpecifierSet(metadata.metadata(match.group(1)).get("Requires-Python") or "")
        assert requires.contains(stated), f"{match.group(1)} does not install on Python {stated}"
        if not requires.contains(below):
            needs_stated.append(match.group(1))
    assert needs_stated, f"no pin needs Python {stated}: the README could promise {below}"  # not stated too high
