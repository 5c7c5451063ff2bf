"""The gateway's audit kept bounded: a line never over its cap, a flood of refusals a few lines a
minute with the rest counted, and the files under their own retention."""

import json
from datetime import datetime, timedelta

from kite_service.clock import IST
from kite_service.gateway.audit import MAX_LINE_BYTES, REFUSED_LINES_PER_MINUTE, GatewayAudit
from kite_service.runtime.maintenance import Maintenance

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=IST)


def lines_of(audit: GatewayAudit) -> list:
    return [json.loads(line) for line in audit.path_for(NOON).read_text().splitlines()]


def test_a_line_holds_at_most_its_cap_and_says_what_it_left_out(tmp_path):
    audit = GatewayAudit(tmp_path)
    fields = {f"field{number}": "x" * 250 for number in range(64)}  # a 16 kB body
    audit.record(NOON, "bot", "POST", "/gtt/triggers", {"tradingsymbol": "INFY", **fields}, 200, "{}")
    raw = audit.path_for(NOON).read_bytes()
    assert len(raw) <= MAX_LINE_BYTES
    (line,) = lines_of(audit)
    assert line["parameters"]["tradingsymbol"] == "INFY"  # the first fields are kept, each cut to 200
    assert all(len(value) <= 200 + len("...") for value in line["parameters"].values())
    assert line["parameters_left_out"] == 65 - len(line["parameters"]) > 0


def test_refusals_are_a_few_lines_a_minute_per_client_and_the_rest_are_counted(tmp_path):
    audit = GatewayAudit(tmp_path)
    for second in range(50):
        audit.record(NOON + timedelta(seconds=second), "flood", "POST", "/orders/regular", {}, 403, "{}", refused=True)
    audit.record(NOON + timedelta(seconds=50), "calm", "POST", "/orders/regular", {}, 403, "{}", refused=True)
    assert [line["client"] for line in lines_of(audit)] == ["flood"] * REFUSED_LINES_PER_MINUTE + ["calm"]
    # A minute after the first: room again, and the line says how many were not written
    audit.record(NOON + timedelta(seconds=61), "flood", "POST", "/orders/regular", {}, 403, "{}", refused=True)
    assert lines_of(audit)[-1]["refusals_not_written"] == 50 - REFUSED_LINES_PER_MINUTE
    # What reached Kite is always written
    for _ in range(30):
        audit.record(NOON + timedelta(seconds=62), "flood", "POST", "/orders/regular", {}, 200, "{}")
    assert len(lines_of(audit)) == REFUSED_LINES_PER_MINUTE + 2 + 30


def test_each_order_is_owned_by_the_client_whose_placement_kite_took(tmp_path):
    audit = GatewayAudit(tmp_path)
    placed = '{"status": "success", "data": {"order_id": "%s"}}'
    audit.record(NOON, "bot-a", "POST", "/orders/regular", {}, 200, placed % "101")
    audit.record(NOON + timedelta(seconds=1), "bot-b", "POST", "/orders/regular", {}, 200, placed % "102")
    audit.record(NOON + timedelta(seconds=2), "bot-b", "PUT", "/orders/regular/101", {}, 200, placed % "101")
    audit.record(NOON + timedelta(seconds=3), "bot-b", "POST", "/orders/regular", {}, 400, '{"status": "error"}')
    audit.path_for(NOON).open("a").write("not json\n")  # a torn line is skipped
    owners = audit.order_owners(NOON)
    assert {order_id: owner["client"] for order_id, owner in owners.items()} == {"101": "bot-a", "102": "bot-b"}
    assert owners["102"]["at"].startswith("2026-11-20T12:00:01")
    assert audit.placements(NOON) == {"bot-a": 1, "bot-b": 1}
    assert audit.owned(NOON, "bot-b") == ({"101", "102"}, set())  # it modified 101: the kill switch's reach


class NoSession:
    def load(self):
        return None


class NoOrders:
    watched_count = 0
    last_poll = None

    def prune(self, now):
        pass


def test_audit_files_are_kept_by_their_own_retention_not_the_logs(settings):
    settings.log_dir.mkdir(parents=True)
    old_log, old_audit = (
        settings.log_dir / "kite_app_2026-10-01.log",
        settings.log_dir / "gateway_audit_2026-10-01.jsonl",
    )
    older_audit = settings.log_dir / "gateway_audit_2025-10-01.jsonl"
    for path in (old_log, old_audit, older_audit):
        path.write_text("{}\n")
    Maintenance(settings, NoSession(), NoOrders(), clock=lambda: NOON).run()  # logs 30 days, audit 365
    assert not old_log.exists() and old_audit.exists() and not older_audit.exists()
