"""A trader's script in a folder of its own, after the one documented step, against a running sandbox."""

import subprocess
import sys
import textwrap

from conftest import clock_env
from service_support import start_service
from settings import PROJECT_DIR

STRATEGY = """
import settings                      # the trader's own settings.py, not Kite App's
from kite_api import KiteAPI
import errors                        # the trader's own errors.py too

kite = KiteAPI()
print("user", kite.get_profile()["user_id"])
print("mine", settings.MINE, errors.MINE)
import clock                         # a name Kite App uses, and this folder does not have
"""


def run_script(folder, site, env):
    # What a .pth line in site-packages does at start-up, then the script run as `python strategy.py`.
    boot = f"import site, runpy, sys; site.addsitedir({str(site)!r}); sys.path.insert(0, ''); "
    boot += "runpy.run_path('strategy.py', run_name='__main__')"
    return subprocess.run([sys.executable, "-c", boot], cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_a_script_in_its_own_folder_uses_kiteapi_after_one_step(tmp_path):
    folder, site = tmp_path / "my-scripts", tmp_path / "site-packages"
    folder.mkdir()
    (folder / "strategy.py").write_text(textwrap.dedent(STRATEGY))
    (folder / "settings.py").write_text("MINE = 'my settings'\n")
    (folder / "errors.py").write_text("MINE = 'my errors'\n")
    step = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "anywhere" / "install.py"), "--target", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert step.returncode == 0 and (site / "kite_app.pth").read_text().strip() == str(PROJECT_DIR / "anywhere")

    (tmp_path / "service").mkdir()
    service = start_service(tmp_path / "service")
    try:
        service.login()
        env = {"PATH": "/usr/bin:/bin", **clock_env(), "KITE_APP_SANDBOX_DIR": str(service.sandbox_dir)}  # no other
        result = run_script(folder, site, env)
    finally:
        service.stop()
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"user {service.demo['user_id']}", "mine my settings my errors"], result.stderr
    assert "KiteAPI is using the Kite sandbox" in result.stderr  # said, so nobody mistakes it for the account
    assert "No module named 'clock'" in result.stderr  # Kite App's module names stay out of the script's way

    # The sandbox stopped: its lock is free, so KiteAPI() would read the project's .env again.
    probe = "import settings; print(settings.running_sandbox_env_file())"
    after = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    assert after.stdout.strip() == "None", after.stderr
