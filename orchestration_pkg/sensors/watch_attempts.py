"""Which watch batches get a run this tick, and with which run key.

A run key is used once by Dagster: a batch whose run failed would never run again under the
same key. So the key carries the attempt: ``<partition>`` for the first run, then
``<partition>/attempt-<n>``; ``n`` is one more than the batch's finished runs, which the
Dagster instance knows (runs of the watch job tagged ``dagster/partition=<partition>``, any
way they were launched). A batch with a run still queued or running is left alone; one whose
``watch.max_batch_attempts`` runs all finished without settling it is given up, with the
reason logged (and, for inbox batches, stored on its events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import DagsterInstance, RunsFilter

PARTITION_TAG = "dagster/partition"


@dataclass
class BatchRuns:
    """What the instance knows about one batch's runs."""

    finished: int = 0
    running: bool = False
    last_run_id: str | None = None
    last_status: str | None = None


@dataclass
class Plan:
    """This tick's verdict per batch: (partition, attempt) to request, running, given up."""

    request: list[tuple[str, int]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    give_up: dict[str, str] = field(default_factory=dict)  # partition → reason


def run_key(partition: str, attempt: int) -> str:
    """The run key of attempt ``attempt`` (1-based) at a batch."""
    return partition if attempt <= 1 else f"{partition}/attempt-{attempt}"


def batch_runs(
    instance: DagsterInstance, job_name: str, partitions: Iterable[str]
) -> dict[str, BatchRuns]:
    """Per partition: finished runs, whether one is queued/running, and the newest outcome."""
    keys = list(dict.fromkeys(partitions))  # in the given order
    found: dict[str, BatchRuns] = {k: BatchRuns() for k in keys}
    if not keys:
        return found
    runs = instance.get_runs(filters=RunsFilter(job_name=job_name, tags={PARTITION_TAG: keys}))
    for run in runs:  # newest first
        state = found.get(run.tags.get(PARTITION_TAG, ""))
        if state is None:
            continue
        if not run.is_finished:
            state.running = True
            continue
        state.finished += 1
        if state.last_run_id is None:
            state.last_run_id, state.last_status = run.run_id, run.status.value
    return found


def plan_attempts(
    instance: DagsterInstance, job_name: str, partitions: Iterable[str], max_attempts: int
) -> Plan:
    """Attempts to request for ``partitions`` (batches that still need applying)."""
    plan = Plan()
    for partition, runs in batch_runs(instance, job_name, partitions).items():
        if runs.running:
            plan.running.append(partition)
        elif runs.finished >= max_attempts:
            plan.give_up[partition] = (
                f"gave up after {runs.finished} run(s) (last: {runs.last_run_id} "
                f"{runs.last_status}); watch.max_batch_attempts is {max_attempts}"
            )
        else:
            plan.request.append((partition, runs.finished + 1))
    return plan


__all__ = ["BatchRuns", "Plan", "batch_runs", "plan_attempts", "run_key"]
