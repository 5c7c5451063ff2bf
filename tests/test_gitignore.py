"""Every file the service writes in its data folder is ignored by git, so none is committed by mistake."""

import shutil
import subprocess

import pytest

from kite_service.config.settings import PROJECT_DIR, load_settings

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (PROJECT_DIR / ".git").exists(), reason="needs git and the project's clone"
)

# The order store's SQLite database and its write-ahead log and shared-memory files.
ORDER_STORE_NAMES = ("orders.sqlite3", "orders.sqlite3-wal", "orders.sqlite3-shm")


def data_folder_files() -> list:
    """The names the service writes beside session.json, taken from the settings' own properties."""
    settings = load_settings({})
    files = [settings.session_file]
    for name in dir(type(settings)):
        value = getattr(settings, name)
        if name.endswith("_file") and value.parent == settings.data_dir:
            files.append(value)
    names = {path.name for path in files}
    names.add(settings.session_file.name + ".lock")  # session_store's file lock
    names |= {f".{name}.x1y2z3.tmp" for name in set(names)}  # atomic_file's temporary files
    return sorted(names | set(ORDER_STORE_NAMES))


def not_ignored(names) -> list:
    answer = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(names) + "\n",
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.returncode in (0, 1), answer.stderr
    return sorted(set(names) - set(answer.stdout.splitlines()))


def test_the_settings_name_every_state_file():
    names = data_folder_files()
    for name in ("session.json", "order_state.json", "notifications.json", ".kite_app.scheduler.lock"):
        assert name in names


def test_every_runtime_file_in_the_data_folder_is_ignored():
    assert not_ignored(data_folder_files()) == []


def test_a_file_of_the_project_is_not_ignored():
    assert not_ignored(["kite_app.py", "README.md"]) == ["README.md", "kite_app.py"]
