"""Redis key and queue names (jobs.keys): all under the namespace, stable, RQ-safe job ids."""

from __future__ import annotations

import re

from jobs.core.keys import QUEUE_NAMES, Keys

KEYS = Keys("rb-test")


def test_every_key_is_under_the_namespace() -> None:
    names = [KEYS.queue("rollback"), KEYS.run("r"), KEYS.run_log("r"), KEYS.run_lease("r"), KEYS.run_slack("r"),
             KEYS.run_verified("r"), KEYS.request("t"), KEYS.journal_applied("r"), KEYS.run_cancel("r"), KEYS.runs,
             KEYS.active_runs, KEYS.service_lock("s"), KEYS.enqueue_guard("s"), KEYS.checkpoint("s", "p"),
             KEYS.checkpoint_history("s", "p"), KEYS.incident("k"), KEYS.incident_by_pd_id("P"), KEYS.pd_event("e"),
             KEYS.pd_webhook_seen("e"), KEYS.run_escalated("r"), KEYS.alert("a"), KEYS.alert_count("a"),
             KEYS.alert_card_due("a"), KEYS.alert_card_sent("a"), KEYS.alert_fingerprint("f"), KEYS.silence("f"),
             KEYS.auto_rollback_cooldown("s"), KEYS.monitor("s", "src"), KEYS.monitor_chain("s/src"),
             KEYS.approval("r"), KEYS.held_messages, KEYS.alert_channel_id, KEYS.audit]  # fmt: skip
    assert all(name.startswith("rb-test:") for name in names)
    assert len(set(names)) == len(names)


def test_the_fixed_key_shapes() -> None:
    assert KEYS.run("rb-1") == "rb-test:run:rb-1"
    assert KEYS.checkpoint("billing", "phase2") == "rb-test:checkpoint:billing:phase2"
    assert KEYS.monitor("billing", "golden_path") == "rb-test:monitor:billing/golden_path"
    assert KEYS.audit == "rb-test:audit"


def test_the_change_lane_lock_has_no_suffix_and_others_do() -> None:
    assert KEYS.service_lock("billing") == "rb-test:lock:service:billing"
    assert KEYS.service_lock("billing", "change") == KEYS.service_lock("billing")
    assert KEYS.service_lock("billing", "validation") == "rb-test:lock:service:billing:validation"


def test_alert_subkeys_share_the_alerts_prefix() -> None:
    prefix = KEYS.alert("")
    assert KEYS.alert_count("a1") == prefix + "a1:count"
    assert KEYS.alert_card_due("a1") == prefix + "a1:card-due"


def test_job_ids_use_only_rqs_alphabet() -> None:
    job = KEYS.job("pd", "rollbot-billing/rb 1:x.y")
    assert job == "rb-test-pd-rollbot-billing-rb-1-x-y"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", Keys("ns:with.dots").job("notify", "a b"))


def test_queues_in_listening_order() -> None:
    assert QUEUE_NAMES == ("rollback", "notify", "validation", "monitor")
    assert KEYS.queue(QUEUE_NAMES[0]) == "rb-test:rollback"
