"""JSON shapes of the API's objects (docs/architecture.md §10), shared by the API and any page that needs them.

Money is a JSON number, as in the specification, and exact: the stored value has four decimals and at
most 14 significant digits, so the shortest text that round-trips the float (Python's and JavaScript's
number printing) is the decimal itself: `12.3456`, never `12.345600000000001` (docs/api.md, "Money").
Timestamps are ISO 8601 in UTC, ids of jobs are UUID strings. Internal columns (claim token, error
stack, storage path) stay out.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.health_checks import resolved_health_config
from db.models import (
    CostRecord,
    Dataset,
    JobEvent,
    Notification,
    TrainingJob,
    Webhook,
    WebhookAttempt,
)


def money(value: Decimal | None) -> float | None:
    """A stored amount as a JSON number whose printed form is exactly its four-decimal value."""
    return None if value is None else float(value.quantize(Decimal("0.0001")))


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def job_json(job: TrainingJob) -> dict[str, Any]:
    hyperparameters = dict(job.hyperparameters or {})
    name = hyperparameters.pop("name", None)
    return {
        "id": str(job.id),
        "name": name,
        "dataset_id": job.dataset_id,
        "preset_id": job.preset_id,
        "base_model": job.base_model,
        "hyperparameters": hyperparameters,
        "gpu_config": dict(job.gpu_config or {}),
        "status": job.status,
        "current_stage": job.current_stage,
        "progress": job.progress,
        "current_epoch": job.current_epoch,
        "total_epochs": job.total_epochs,
        "current_step": job.current_step,
        "total_steps": job.total_steps,
        "current_metrics": dict(job.current_metrics or {}),
        "estimated_total_cost": money(job.estimated_total_cost),
        "current_cost": money(job.current_cost),
        "final_cost": money(job.final_cost),
        "budget_limit": money(job.budget_limit),
        "external_job_id": job.external_job_id,
        "error_message": job.error_message,
        "queued_at": timestamp(job.queued_at),
        "started_at": timestamp(job.started_at),
        "completed_at": timestamp(job.completed_at),
        "created_at": timestamp(job.created_at),
        "updated_at": timestamp(job.updated_at),
        "cancel_requested_at": timestamp(job.cancel_requested_at),
        "cancel_confirmed_at": timestamp(job.cancel_confirmed_at),
        "artifact_id": job.artifact_id,
        "health_checks": resolved_health_config(job.health_checks),
    }


def cost_record_json(record: CostRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "job_id": str(record.job_id),
        "cost_type": record.cost_type,
        "amount": money(record.amount),
        "details": dict(record.details or {}),
        "billing_period": record.billing_period,
        "recorded_at": timestamp(record.recorded_at),
    }


def event_json(event: JobEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": timestamp(event.at),
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": event.actor,
        "details": dict(event.details or {}),
    }


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "format": dataset.format,
        "status": dataset.status,
        "total_training_pairs": dataset.total_training_pairs,
        "total_tokens": dataset.total_tokens,
        "file_size": dataset.file_size,
        "created_at": timestamp(dataset.created_at),
    }


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "type": notification.type,
        "title": notification.title,
        "message": notification.message,
        "priority": notification.priority,
        "action_url": notification.action_url,
        "metadata": dict(notification.metadata_ or {}),
        "read": notification.read_at is not None,
        "read_at": timestamp(notification.read_at),
        "created_at": timestamp(notification.created_at),
    }


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret (that is shown once, at creation)."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "events": list(webhook.events or []),
        "format": webhook.format,
        "enabled": webhook.enabled,
        "created_at": timestamp(webhook.created_at),
    }


def webhook_attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "delivery_id": attempt.delivery_id,
        "event": attempt.event,
        "at": timestamp(attempt.at),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "latency_ms": attempt.latency_ms,
        "ok": attempt.error is None,
    }
