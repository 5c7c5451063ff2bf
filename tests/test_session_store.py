"""session.json: atomic writes under a cross-process lock, reading, expiry."""

import json
import multiprocessing
import os
import re
import stat

import pytest

from conftest import ist, make_session
from kite_service.errors import SessionFileError
from kite_service.login.session_store import Session, SessionStore

FIELDS = {"user_id", "user_name", "api_key", "access_token", "public_token", "login_time", "created_at", "expires_at"}


def test_saved_file_holds_exactly_what_scripts_need(store):
    store.save(make_session(login_time=ist(2026, 11, 20, 9, 15)))
    data = json.loads(store.path.read_text())
    assert set(data) == FIELDS
    assert data["expires_at"] == "2026-11-21T06:00:00+05:30"
    assert data["login_time"] == "2026-11-20T09:15:00+05:30"
    text = store.path.read_text()
    for dropped in ("refresh_token", "enctoken", "request_token"):
        assert dropped not in text


def test_file_is_private_to_the_owner(store):
    store.save(make_session())
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_round_trip_and_expiry(store):
    session = make_session(login_time=ist(2026, 11, 20, 9, 0))
    store.save(session)
    loaded = store.load()
    assert loaded == session
    assert not loaded.is_expired(ist(2026, 11, 21, 5, 59, 59))
    assert loaded.is_expired(ist(2026, 11, 21, 6, 0))
    assert store.state(ist(2026, 11, 21, 5, 0)) == "valid"
    assert store.state(ist(2026, 11, 21, 7, 0)) == "expired"


def test_missing_file_is_no_session(store):
    assert store.load() is None
    assert store.state() == "missing"


@pytest.mark.parametrize("content", ["{half written", '{"user_id": "X"}', "[]", '{"expires_at": 5}'])
def test_unreadable_file_gives_a_clear_error(store, content):
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(content)
    with pytest.raises(SessionFileError, match="log in again"):
        store.load()
    assert store.state() == "unreadable"


def test_tokens_are_not_in_repr():
    session = make_session(access_token="visible-if-leaked")
    assert "visible-if-leaked" not in repr(session)


def test_failed_write_keeps_the_previous_session(store, monkeypatch):
    first = make_session(access_token="first-token-123")
    store.save(first)

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("kite_service.storage.atomic_file.os.fsync", disk_full)
    with pytest.raises(SessionFileError, match="No space left"):
        store.save(make_session(access_token="second-token-456"))
    assert store.load() == first
    leftovers = [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def _save_many(path, worker, rounds):
    store = SessionStore(path)
    for i in range(rounds):
        store.save(make_session(access_token=f"token-{worker}-{i:04d}"))


def test_concurrent_logins_never_mix_files(store):
    """Four processes write 50 sessions each while the test reads: every read is one whole session."""
    store.save(make_session(access_token="token-start-0000"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_save_many, args=(store.path, w, 50)) for w in range(4)]
    for worker in workers:
        worker.start()
    reads = 0
    while any(w.is_alive() for w in workers):
        session = store.load()
        assert re.fullmatch(r"token-(start|[0-3])-\d{4}", session.access_token)
        assert session.public_token == session.access_token + "-public"
        reads += 1
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    final = store.load()
    assert final.access_token.endswith("-0049")
    assert reads > 0
    assert isinstance(final, Session)


def test_status_reads_may_reuse_a_recent_answer_but_see_own_writes_at_once(store, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("kite_service.login.session_store.time.monotonic", lambda: clock[0])
    other_process = SessionStore(store.path)  # writes the file the way a second process would
    store.save(make_session("token-one-1111"))
    assert store.load(max_age=1.0).access_token == "token-one-1111"

    other_process.save(make_session("token-two-2222"))
    clock[0] += 0.5
    assert store.load(max_age=1.0).access_token == "token-one-1111"  # checked 0.5 s ago: not looked at again
    assert store.load().access_token == "token-two-2222"  # without max_age every call looks
    other_process.save(make_session("token-three-3333"))
    clock[0] += 1.0
    assert store.load(max_age=1.0).access_token == "token-three-3333"  # older than max_age: looked at again

    store.save(make_session("token-four-4444"))
    assert store.load(max_age=1.0).access_token == "token-four-4444"  # its own login: at once
    store.clear()
    assert store.load(max_age=1.0) is None  # its own logout: at once
    assert store.summary(max_age=1.0)["state"] == "missing"
