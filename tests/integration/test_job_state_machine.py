"""Property-based test of the job lifecycle: random interleavings of users, cycles and cluster
behaviour against the real PostgreSQL and the simulated cluster over real HTTP.

Hypothesis drives a `RuleBasedStateMachine` whose rules are the things that happen in production:
a user creates or cancels a job, the processor runs a cycle, the cluster finishes or fails a job
(we move one test clock that the simulator, the cycle and the user's cancel all read, so nothing
waits on wall time), the cluster answers with transient errors, and a worker dies between the
cluster accepting a job and us saving its id. After every step the invariants that billing and
users rely on are checked.

Deterministic in CI (derandomize); set PIPELINE_STATEMACHINE_EXAMPLES=200 to explore more, and
PIPELINE_STATEMACHINE_RANDOM=1 for a fresh random seed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import TERMINAL_STATUSES, CostRecord, JobStatus, TrainingJob
from jobs.claims import Claim
from jobs.cycle import run_cycle
from services.errors import InvalidState
from services.training_jobs import cancel_user_job
from services.transitions import COMPUTE_COST_TYPE
from settings import Settings
from simulator.runner import SimulatorHandle
from tests.cycle_harness import Clock, fast_client, notifications, queue_jobs, sim_stats
from tests.factories import DEFAULT_HYPERPARAMETERS

EXAMPLES = int(os.environ.get("PIPELINE_STATEMACHINE_EXAMPLES", "25"))
RANDOM = os.environ.get("PIPELINE_STATEMACHINE_RANDOM") == "1"
TERMINAL = {str(getattr(s, "value", s)) for s in TERMINAL_STATUSES}
TERMINAL_NOTIFICATIONS = {"job_completed", "job_failed", "job_cancelled"}
# Money is stored to 4 decimal places; a final cost may round up by half a unit of the last place.
ROUNDING = Decimal("0.0001")
# One "cluster time passes" step: at time scale 50 a default job needs ~3 s, so this ends it.
CLUSTER_STEP_SECONDS = 120.0
# Budgets at 2× A100-80GB ($7/h): none; $0.01 runs out within one cycle interval of the start (the
# cycle that submits the job stops it); $0.10 after 51 s, so a job still running after the cluster's
# time passed (its polls failed) is stopped, or cancelled, past its budget.
BUDGETS = [None, None, Decimal("0.01"), Decimal("0.10")]
# $/h per GPU, written out here so that a wrong price in the product is not also the expected one.
GPU_PRICES = {
    "A100-80GB": Decimal("3.50"),
    "A100-40GB": Decimal("2.80"),
    "H100": Decimal("4.20"),
    "V100-32GB": Decimal("2.10"),
}


def hourly_rate(gpu_config: dict[str, Any]) -> Decimal:
    return GPU_PRICES[gpu_config["type"]] * int(gpu_config["count"])


class WorkerDied(BaseException):
    """Raised between the cluster accepting a job and us saving its id: the process 'dies' there
    (BaseException, so no `except Exception` in the processor can swallow it, as with SIGKILL)."""


def make_machine(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, sim: SimulatorHandle
) -> type[RuleBasedStateMachine]:
    clock = Clock()
    sim.cluster.clock = clock.wall

    class JobLifecycle(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.seen: dict[uuid.UUID, str] = {}  # last observed status of each job made here
            self.terminal: dict[uuid.UUID, str] = {}  # first terminal status observed, forever
            self.crashes: dict[uuid.UUID, int] = {}  # worker deaths after the cluster accepted it

        @initialize()
        def quiet_cluster(self) -> None:
            sim.set_faults(fail_next=0, error_rate=0.0)

        # ---- rules: what happens in production -------------------------------------------------

        @rule(
            target=jobs,
            kind=st.sampled_from(["normal", "normal", "fails"]),
            budget=st.sampled_from(BUDGETS),
        )
        def create_job(self, kind: str, budget: Decimal | None) -> uuid.UUID:
            hyper: dict[str, Any] = dict(DEFAULT_HYPERPARAMETERS)
            if kind == "fails":
                hyper["sim_fail_at"] = 0.5
            (job_id,) = queue_jobs(sessions, owner, hyperparameters=hyper, budget_limit=budget)
            self.seen[job_id] = JobStatus.QUEUED.value
            self.crashes[job_id] = 0
            return job_id

        @rule()
        def run_a_cycle(self) -> None:
            self._cycle()

        @rule(job_id=jobs)
        def user_cancels(self, job_id: uuid.UUID) -> None:
            self._cancel(job_id)

        @precondition(lambda self: JobStatus.RUNNING.value in self.seen.values())
        @rule(data=st.data())
        def user_cancels_a_running_job(self, data: st.DataObject) -> None:
            """The cancel that is billed: a job runs for a cycle or so (0.5 s of wall time at the
            simulator's speed), so a cancel drawn from all jobs almost never finds one running."""
            running = sorted(
                job_id for job_id, status in self.seen.items() if status == JobStatus.RUNNING.value
            )
            self._cancel(data.draw(st.sampled_from(running)))

        @rule()
        def cluster_time_passes(self) -> None:
            """Jobs on the cluster finish (or fail, for those created to fail at 50 %)."""
            clock.offset += CLUSTER_STEP_SECONDS

        @rule(count=st.integers(min_value=1, max_value=4))
        def cluster_errors(self, count: int) -> None:
            sim.set_faults(fail_next=count, error_status=503)

        @rule()
        def worker_crashes_mid_submit(self) -> None:
            """A cycle whose worker dies right after the cluster accepted a job: the claim stays
            with a lease that later expires (the clock moves), and a later cycle re-submits."""
            died: list[str] = []

            def die(claim: Claim, external_job_id: str) -> None:
                job_id = uuid.UUID(str(claim.job_id))
                if job_id in self.crashes:
                    self.crashes[job_id] += 1
                died.append(external_job_id)
                raise WorkerDied

            try:
                self._cycle(after_submit=die)
            except WorkerDied:
                assert died

        # ---- invariants, after every step ------------------------------------------------------

        @invariant()
        def terminal_states_never_change(self) -> None:
            for job_id in self.seen:
                status = self._status(job_id)
                if job_id in self.terminal:
                    assert status == self.terminal[job_id], (
                        f"{job_id} left {self.terminal[job_id]} for {status}"
                    )
                elif status in TERMINAL:
                    self.terminal[job_id] = status
                self.seen[job_id] = status

        @invariant()
        def one_cluster_job_per_job(self) -> None:
            """Submits are idempotent by our job id; only a re-submit after a crash may repeat one."""
            submits = sim_stats(sim)["submits"]
            for job_id in self.seen:
                assert submits.get(str(job_id), 0) <= 1 + self.crashes[job_id], (
                    f"{job_id} submitted {submits.get(str(job_id))} times, {self.crashes[job_id]} crashes"
                )
                with sessions() as session:
                    found = session.get(TrainingJob, job_id)
                    assert found is not None
                    external = found.external_job_id
                if external is not None:
                    on_cluster = sim.cluster.get(external)
                    assert on_cluster is None or on_cluster.spec.job_id == str(job_id)

        @invariant()
        def billing_and_notifications_once(self) -> None:
            now = clock.now()
            for job_id in self.seen:
                with sessions() as session:
                    found = session.get(TrainingJob, job_id)
                    assert found is not None
                    costs = session.scalars(
                        select(CostRecord).where(
                            CostRecord.job_id == job_id, CostRecord.cost_type == COMPUTE_COST_TYPE
                        )
                    ).all()
                terminal_notes = [n for n in notifications(sessions, job_id) if n in TERMINAL_NOTIFICATIONS]
                if found.status in TERMINAL:
                    assert len(terminal_notes) == 1, f"{found.status} job notified {terminal_notes}"
                    assert len(costs) == (1 if found.started_at is not None else 0)
                else:
                    assert terminal_notes == [], f"active {found.status} job notified {terminal_notes}"
                    assert costs == [], f"active {found.status} job billed"
                amounts = [c.amount for c in costs] + ([found.final_cost] if found.final_cost else [])
                for amount in amounts:
                    assert amount >= 0, f"negative cost {amount}"
                    assert found.started_at is not None, "billed without ever running"
                    rate = hourly_rate(found.gpu_config)
                    # Never more than rate × time so far, nor than rate × the time it actually ran.
                    end = min(now, found.completed_at or now)
                    hours = Decimal(str(max(0.0, (end - found.started_at).total_seconds()))) / 3600
                    assert amount <= rate * hours + ROUNDING, f"{amount} > {rate}/h × {hours} h"
                if found.status in TERMINAL and found.started_at is not None:
                    self._billed_for_the_time_it_ran(found, now)

        @invariant()
        def never_billed_past_the_budget(self) -> None:
            """What a job shows as spent, its final cost and its cost record stay within its budget."""
            for job_id in self.seen:
                with sessions() as session:
                    found = session.get(TrainingJob, job_id)
                    assert found is not None
                    amounts = session.scalars(
                        select(CostRecord.amount).where(CostRecord.job_id == job_id)
                    ).all()
                if found.budget_limit is None:
                    continue
                for amount in [found.current_cost, found.final_cost, *amounts]:
                    assert amount is None or amount <= found.budget_limit, (
                        f"{found.status} job billed {amount} over its budget {found.budget_limit}"
                    )

        @staticmethod
        def _billed_for_the_time_it_ran(found: TrainingJob, now: datetime) -> None:
            """A finished job ended after it started and no later than now (on the shared clock, a
            user's cancel included), and was billed at least rate × that time, or its whole budget
            when that was less: nothing free beyond what the budget promises."""
            assert found.started_at is not None
            assert found.completed_at is not None
            assert found.started_at <= found.completed_at <= now, (
                f"{found.status} job ran {found.started_at} → {found.completed_at}, now {now}"
            )
            rate = hourly_rate(found.gpu_config)
            ran = Decimal(str((found.completed_at - found.started_at).total_seconds())) / 3600
            owed = rate * ran if found.budget_limit is None else min(rate * ran, found.budget_limit)
            assert (found.final_cost or 0) >= owed - ROUNDING, f"{found.final_cost} < {rate}/h × {ran} h"

        # ---- helpers ---------------------------------------------------------------------------

        def _cycle(self, after_submit: Callable[[Claim, str], None] | None = None) -> None:
            client = fast_client(cycle_settings, read_timeout=2.0, max_retries=0)
            try:
                run_cycle(
                    cycle_settings,
                    sessions=sessions,
                    client=client,
                    clock=clock.now,
                    after_submit=after_submit,
                )
            finally:
                client.close()

        def _cancel(self, job_id: uuid.UUID) -> None:
            """A user's cancel at the shared clock's now, which ends the billed time."""
            was = self._status(job_id)
            try:
                with sessions.begin() as session:
                    cancel_user_job(session, owner, job_id, actor="user", now=clock.now())
            except InvalidState:
                assert was in TERMINAL, f"cancel of {was} job refused"
                return
            assert was not in TERMINAL, f"a {was} job was cancelled"
            assert self._status(job_id) == JobStatus.CANCELLED.value

        def _status(self, job_id: uuid.UUID) -> str:
            with sessions() as session:
                status = session.scalar(select(TrainingJob.status).where(TrainingJob.id == job_id))
            assert status is not None
            return str(status)

        def teardown(self) -> None:
            """Cancel what this example left active, so the next one starts with an empty queue."""
            sim.set_faults(fail_next=0)
            for job_id in self.seen:
                try:
                    with sessions.begin() as session:
                        cancel_user_job(session, owner, job_id, actor="teardown", now=clock.now())
                except InvalidState:
                    pass

    return JobLifecycle


def test_job_state_machine(
    cycle_settings: Settings, sessions: sessionmaker[Session], owner: int, sim: SimulatorHandle
) -> None:
    machine = make_machine(cycle_settings, sessions, owner, sim)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=15,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
