"""One step to use KiteAPI from any folder or notebook: python /path/to/kite-app/anywhere/install.py

Run it with the Python your scripts or notebooks use. It writes `kite_app.pth` into that Python's
site-packages (or its user site-packages, if that one cannot be written), naming the `anywhere/`
folder, which holds only the kite_api stand-in: no other module name of Kite App reaches that
Python. Delete the printed file to undo. Needs nothing but the standard library.
"""

import argparse
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
PTH_NAME = "kite_app.pth"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Make `from kite_api import KiteAPI` work from any folder.")
    parser.add_argument("--target", type=Path, help="the site-packages folder to write to (default: this Python's)")
    args = parser.parse_args(argv)
    targets = [args.target] if args.target else [Path(sysconfig.get_paths()["purelib"])]
    if not args.target and site.ENABLE_USER_SITE:
        targets.append(Path(site.getusersitepackages()))
    for target in targets:
        try:
            target.mkdir(parents=True, exist_ok=True)
            (target / PTH_NAME).write_text(f"{FOLDER}\n", encoding="utf-8")
        except OSError:
            continue
        print(f"Wrote {target / PTH_NAME}: `from kite_api import KiteAPI` now works for {sys.executable}.")
        print("KiteAPI reads Kite App's .env, login_credentials.json and session.json from", FOLDER.parent)
        print("(the sandbox's, while `kite_app.py --sandbox` runs). Delete that file to undo.")
        if not args.target:
            check = subprocess.run([sys.executable, "-c", "import kite_api"], capture_output=True, text=True)
            if check.returncode != 0:
                print(check.stderr.strip().splitlines()[-1], file=sys.stderr)
        return 0
    print(f"Could not write {PTH_NAME} to any of: {', '.join(map(str, targets))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
