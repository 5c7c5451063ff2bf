"""The README's commands are the ones CI runs, and every documented setting exists."""

import re

from settings import DEFAULTS, PROJECT_DIR

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


def test_systemd_unit_restarts_keeps_files_private_and_outwaits_the_longest_job():
    import configparser

    from kite_client import DEFAULT_RETRY
    from notifiers import SEND_TIMEOUT_SECONDS
    from settings import load_settings

    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read_string((PROJECT_DIR / "deploy" / "kite-app.service").read_text())
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and service["UMask"] == "0077"
    assert service["ExecStart"].endswith("kite_app.py")  # binds 127.0.0.1 unless HOST says otherwise
    attempts = DEFAULT_RETRY.retries + 1
    longest_poll = attempts * load_settings({}).kite_timeout + DEFAULT_RETRY.retries * DEFAULT_RETRY.max_delay
    waitress_grace = 5
    notifier_send = 2 * SEND_TIMEOUT_SECONDS
    assert int(service["TimeoutStopSec"]) > longest_poll + waitress_grace + notifier_send


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
    assert f'./deploy/python-check ; python_version < "{stated}"' in requirements.splitlines()[2]
    below = f"{stated.split('.')[0]}.{int(stated.split('.')[1]) - 1}"
    needs_stated = []
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (PROJECT_DIR / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
            if not match:
                continue
            requires = SpecifierSet(metadata.metadata(match.group(1)).get("Requires-Python") or "")
            assert requires.contains(stated), f"{match.group(1)} does not install on Python {stated}"
            if not requires.contains(below):
                needs_stated.append(match.group(1))
    assert needs_stated, f"no pin needs Python {stated}: the README could promise {below}"  # not stated too high
