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
