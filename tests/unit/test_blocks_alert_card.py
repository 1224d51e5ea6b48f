"""Alert cards (jobs.blocks.alert_card): valid Block Kit, the fixed `rollbot_alert` metadata, and
which of *Roll back*, *Keep watching*/*Acknowledge* and *Silence* each alert state offers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.core.ids import ActionId
from jobs.records.alerts import AlertState
from jobs.slack.blocks import alert_card, alert_rollback_level, format_value
from tests.unit.builders import T0, action_ids, alert, all_text, buttons, checkpoint, metadata_of, valid_blocks

NOW = T0 + timedelta(seconds=5)


@pytest.mark.parametrize("state", ["firing", "acknowledged", "silenced", "resolved"])
def test_every_state_renders_valid_blocks_and_alert_metadata(state: AlertState) -> None:
    card = alert(state=state, acknowledged_by="U0ACK", silenced_by="U0SIL", silenced_until=NOW, resolution="healthy")
    text, blocks, metadata = alert_card(card, NOW, checkpoint())
    valid_blocks(blocks)
    assert text.endswith(f"success_rate at 0.87 (billing) — {state}")
    event_type, payload = metadata_of(metadata)
    assert event_type == "rollbot_alert"
    assert payload == {"alert_id": card.alert_id, "metric": "success_rate", "state": state}


def test_a_firing_breach_offers_rollback_acknowledge_and_silence() -> None:
    _, blocks, _ = alert_card(alert(), NOW, checkpoint())
    assert action_ids(blocks) == [ActionId.ALERT_ROLLBACK, ActionId.ALERT_KEEP_WATCHING, ActionId.ALERT_SILENCE]
    found = buttons(blocks)
    assert found["alert_rollback"]["value"] == "al-20261125-174000-9c1e|level1"
    assert found["alert_rollback"]["text"]["text"] == "Roll back phase3 level1"
    assert "Checkpoint: phase2-pre-20261125 (0123456789ab)." in found["alert_rollback"]["confirm"]["text"]["text"]
    assert found["alert_keep_watching"]["text"]["text"] == "Acknowledge"
    assert found["alert_silence"]["text"]["text"] == "Silence 30 min"
    assert "Roll back resets to checkpoint `phase2-pre-20261125` (`0123456789ab`)" in all_text(blocks)


def test_an_inconclusive_alert_asks_to_keep_watching() -> None:
    _, blocks, _ = alert_card(alert(kind="inconclusive"), NOW)
    assert buttons(blocks)["alert_keep_watching"]["text"]["text"] == "Keep watching"
    assert valid_blocks(blocks)[0]["text"]["text"] == "🤔 Health inconclusive: roll back or keep watching?"


def test_a_blind_monitor_is_never_offered_a_rollback() -> None:
    card = alert(kind="blind", value=None, trend=[])
    _, blocks, _ = alert_card(card, NOW, checkpoint())
    assert action_ids(blocks) == ["alert_keep_watching", "alert_silence"]
    assert "*success_rate* at *?*" in all_text(blocks) and "Trend: ?" in all_text(blocks)
    assert "resets to checkpoint" not in all_text(blocks)


def test_an_alert_without_a_phase_has_no_rollback_button() -> None:
    _, blocks, _ = alert_card(alert(phase=None, level=None), NOW)
    assert ActionId.ALERT_ROLLBACK not in action_ids(blocks)


def test_acknowledged_and_silenced_alerts_lose_their_own_buttons() -> None:
    _, acknowledged, _ = alert_card(alert(state="acknowledged", acknowledged_by="U0ACK"), NOW)
    assert action_ids(acknowledged) == ["alert_rollback", "alert_silence"]
    assert "👤 Acknowledged by <@U0ACK>: keep watching" in all_text(acknowledged)
    until = T0 + timedelta(minutes=30)
    _, silenced, _ = alert_card(alert(state="silenced", silenced_by="U0SIL", silenced_until=until), NOW)
    assert action_ids(silenced) == ["alert_rollback"]
    assert "🔕 Silenced by <@U0SIL> until 18:12 UTC" in all_text(silenced)


def test_a_resolved_alert_has_no_buttons() -> None:
    _, blocks, _ = alert_card(alert(state="resolved", resolution="health recovered"), NOW, checkpoint())
    assert action_ids(blocks) == []
    assert valid_blocks(blocks)[0]["text"]["text"] == "✅ Recovered"
    assert "✅ Resolved: health recovered" in all_text(blocks)


def test_while_its_rollback_runs_no_second_rollback_is_offered() -> None:
    for status in ("queued", "running"):
        card = alert(run_id="rb-1", run_status=status, next_level="level2")
        assert alert_rollback_level(card) is None
        assert "alert_rollback" not in action_ids(alert_card(card, NOW)[1])


def test_after_its_rollback_the_next_level_is_offered_or_none() -> None:
    card = alert(run_id="rb-1", run_status="failed", next_level="level2")
    assert alert_rollback_level(card) == "level2"
    assert buttons(alert_card(card, NOW)[1])["alert_rollback"]["value"].endswith("|level2")
    last = alert(run_id="rb-1", run_status="failed", next_level=None)
    assert alert_rollback_level(last) is None
    assert "alert_rollback" not in action_ids(alert_card(last, NOW)[1])


def test_context_counts_repeats_and_names_origin_poster_and_dry_run() -> None:
    card = alert(origin="message", source="datadog-rule", count=7, posted_by="U0POSTER", dry_run=True)
    shown = all_text(alert_card(card, NOW)[1])
    assert "since 17:40:33 UTC · last 17:42:33 UTC · seen 7 times · message `datadog-rule`" in shown
    assert "posted by <@U0POSTER> · dry run" in shown
    assert "seen once" in all_text(alert_card(alert(), NOW)[1])


def test_trend_and_values_are_shown_with_four_significant_digits() -> None:
    assert format_value(0.876543) == "0.8765" and format_value(None) == "?" and format_value(1234567) == "1.235e+06"
    shown = all_text(alert_card(alert(trend=[0.97, None, 0.87]), NOW)[1])
    assert "Trend: 0.97 → ? → 0.87" in shown and "(threshold < 0.9)" in shown


def test_a_huge_detail_is_clipped_and_still_valid() -> None:
    _, blocks, _ = alert_card(alert(detail="x" * 10_000, decision="Rolled back automatically"), NOW)
    section = valid_blocks(blocks)[1]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("… (truncated)")


def test_the_longest_phase_and_level_names_still_make_a_card_slack_accepts() -> None:
    long_phase, long_level = "p" * 40, "l" * 40  # the longest names a runbook allows
    _, blocks, _ = alert_card(alert(phase=long_phase, level=long_level), NOW, checkpoint())
    valid_blocks(blocks)
    button = buttons(blocks)["alert_rollback"]
    assert len(button["text"]["text"]) <= 75 and button["text"]["text"].endswith("…")
    assert len(button["confirm"]["text"]["text"]) <= 300
