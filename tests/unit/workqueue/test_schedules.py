"""Schedule ticks: every worker computes the same ones, and bad definitions are refused."""

from __future__ import annotations

import pytest

from shared.workqueue.schedules import Schedule

MOMENT = 1_767_225_600.25  # 2026-01-01 00:00:00.25 UTC


def test_cron_ticks_are_in_utc_and_strictly_after_the_moment() -> None:
    nightly = Schedule("n", "t", cron="0 3 * * *")
    assert nightly.next_after(MOMENT) == MOMENT - 0.25 + 3 * 3600
    every_second = Schedule("s", "t", cron="* * * * * *")
    assert every_second.next_after_ms(1_767_225_601_000) == 1_767_225_602_000


def test_interval_ticks_are_anchored_to_the_epoch_so_every_worker_agrees() -> None:
    minutely = Schedule("m", "t", every=60)
    assert minutely.next_after(MOMENT) == MOMENT - 0.25 + 60
    assert minutely.job_id(1_767_225_660_000) == "schedule:m:1767225660000"


def test_a_schedule_needs_a_valid_cron_or_interval() -> None:
    with pytest.raises(ValueError, match="not a cron expression"):
        Schedule("x", "t", cron="every tuesday")
    with pytest.raises(ValueError, match="either a cron expression or an interval"):
        Schedule("x", "t", cron="* * * * *", every=5)
    with pytest.raises(ValueError, match=r"at least 0\.1 s"):
        Schedule("x", "t", every=0)


def test_a_schedule_survives_its_stored_form() -> None:
    schedule = Schedule("p", "fetch", {"feed": "a"}, every=30, priority=3)
    assert Schedule.from_dict(schedule.to_dict()) == schedule
