"""What the loss chart's lifecycle markers read, written by run_cycle against real PostgreSQL and
the simulator over HTTP: one event per checkpoint the cluster reports (however often it repeats
the list), and one `cluster_reconnected` event when polling succeeds again after errors."""

from __future__ import annotations

from tests.cycle_harness import (
    LONG_HYPERPARAMETERS,
    all_terminal,
    cycle,
    cycle_until,
    events,
    job,
    queue_jobs,
)


def test_checkpoints_are_stored_once_each_and_a_poll_error_streak_ends_with_one_event(
    cycle_settings, sessions, owner, sim
) -> None:
    (job_id,) = queue_jobs(sessions, owner, hyperparameters=LONG_HYPERPARAMETERS)
    assert cycle(cycle_settings, sessions).submitted == 1
    cycle(cycle_settings, sessions)
    assert events(sessions, job_id, "cluster_reconnected") == []  # no errors yet, nothing to mark

    sim.set_faults(error_rate=1.0)
    cycle(cycle_settings, sessions)
    cycle(cycle_settings, sessions)
    sim.set_faults(error_rate=0.0)
    cycle(cycle_settings, sessions)
    cycle(cycle_settings, sessions)  # a second good answer is not a second reconnection
    (back,) = events(sessions, job_id, "cluster_reconnected")
    assert back.actor == "processor"
    assert isinstance(back.details["step"], int)
    assert back.details["silent_seconds"] >= 0

    cycle_until(cycle_settings, sessions, all_terminal(sessions, [job_id]))
    done = job(sessions, job_id)
    saved = events(sessions, job_id, "checkpoint_saved")
    steps = [e.details["step"] for e in saved]
    assert steps == sorted(set(steps))  # each step once, though every answer repeats the list
    # the simulator saves one per epoch (8 steps: tests/cycle_harness.DATASET_ROWS)
    assert steps == list(range(8, done.total_steps + 1, 8))
    assert all(str(e.details["uri"]).startswith("sim://") for e in saved)
