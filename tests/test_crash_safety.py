"""SIGKILL at random moments while session.json and the order database are rewritten in a loop;
and many logins at once. Every read must give a whole file (the old content or the new) and a
whole batch of order changes (all of one transaction or none of it).

Counts: KITE_APP_FULL_COUNTS=1 runs the full 500 kills (docs/reliability.md); CI runs 100.
"""

import os
import random
import signal
import subprocess
import sys
import threading

import pytest
import responses

from conftest import ACCESS_CODE, KITE_ROOT, session_response
from kite_service.config.settings import PROJECT_DIR
from kite_service.login.session_store import SessionStore
from kite_service.orders.database import OrderDatabase
from kite_service.storage.atomic_file import remove_stale_temp_files

pytestmark = pytest.mark.long

KILLS = 500 if os.environ.get("KITE_APP_FULL_COUNTS") == "1" else 100

WRITER = """
import sys
sys.path.insert(0, {project!r})
from kite_service.orders.database import OrderDatabase
from kite_service.login.session_store import Session, SessionStore
store = SessionStore({session!r})
database = OrderDatabase({state!r})
n = {start}
print("ready", flush=True)
while True:
    n += 1
    store.save(Session("U%d" % n, "User %d" % n, "key", "tok-%d" % n, "pub-%d" % n,
                       "2026-11-23T09:00:00+05:30", "2026-11-23T09:00:00+05:30", "2026-11-24T06:00:00+05:30"))
    with database.transaction() as tx:  # one batch of 50 changes
        for i in range(50):
            database.save_order(tx, str(i), {{"status": "OPEN", "filled_quantity": n, "trading_day": "2026-11-23"}})
"""


def test_sigkill_during_rewrites_never_leaves_a_broken_or_mixed_file(tmp_path):
    session_file, state_file = tmp_path / "session.json", tmp_path / "orders.sqlite3"
    store = SessionStore(session_file)
    rng = random.Random(4711)
    last_seen = 0
    for kill in range(KILLS):
        code = WRITER.format(
            project=str(PROJECT_DIR), session=str(session_file), state=str(state_file), start=kill * 10**6
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "ready\n"
        threading.Event().wait(rng.uniform(0, 0.03))
        child.send_signal(signal.SIGKILL)
        child.wait()
        session = store.load()  # raises if the file is unreadable or incomplete
        if session is not None:
            n = int(session.user_id[1:])
            assert (session.user_name, session.access_token, session.public_token) == (
                f"User {n}",
                f"tok-{n}",
                f"pub-{n}",
            ), "fields from two different writes"
            last_seen = max(last_seen, n)
        if state_file.exists():
            orders = OrderDatabase(state_file).load_orders(since_day="2026-11-23")
            assert orders == {} or (len({o["filled_quantity"] for o in orders.values()}) == 1 and len(orders) == 50)
    leftovers = [p.name for p in tmp_path.glob(".*.tmp")]
    removed = remove_stale_temp_files(tmp_path, older_than_seconds=0)  # what the service does at start
    print(f"{KILLS} SIGKILLs: every file whole; last session #{last_seen}; {len(removed)} temp files cleaned up")
    assert last_seen > 0 and sorted(removed) == sorted(leftovers) and not list(tmp_path.glob(".*.tmp"))
    assert store.load() is not None


def test_twenty_concurrent_logins_give_exactly_one_whole_session(client, kite, store):
    tokens = [f"concurrent-token-{i:02d}" for i in range(20)]
    for token in tokens:
        kite.add(
            responses.POST, KITE_ROOT + "/session/token", body=session_response(token), content_type="application/json"
        )
    barrier = threading.Barrier(20)
    statuses = []

    def log_in(i):
        app_client = client.application.test_client()
        barrier.wait()
        response = app_client.get(f"/api/token?code={ACCESS_CODE}&request_token=reqtoken{i:03d}")
        statuses.append(response.status_code)

    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 20
    session = store.load()
    assert session.access_token in tokens and session.public_token == session.access_token + "-public"
    assert [p.name for p in store.path.parent.iterdir() if p.suffix == ".tmp"] == []
