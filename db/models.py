"""The typed ORM models: one class per table of docs/architecture.md §3, keeping the seed's table names."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.base_models import DEFAULT_BASE_MODEL
from db.base import Base, JSONType, Money, UTCDateTime, utcnow

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(StrEnum):
    QUEUED = "queued"
    INITIALIZING = "initializing"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.INITIALIZING, JobStatus.RUNNING})


class DatasetStatus(StrEnum):
    READY = "ready"
    INVALID = "invalid"


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped at logout: a session cookie carries the generation it was issued with, so a cookie
    # replayed after logout no longer matches and is refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by `lora-pipeline users disable`: no sign-in, and its sessions and tokens are refused.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked

    user: Mapped[User] = relationship()


class Invite(Base):
    """A single-use registration link an admin made with the CLI; only the token's hash is kept."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Dataset(Base):
    __tablename__ = "lora_datasets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(20))
    storage_bucket: Mapped[str] = mapped_column(String(100), default="datasets")
    storage_path: Mapped[str] = mapped_column(String(500))
    total_training_pairs: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default=DatasetStatus.READY)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingJob(Base):
    __tablename__ = "lora_training_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JobStatus), name="status_valid"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        Index("ix_lora_training_jobs_status_queued_at", "status", "queued_at"),
        Index("ix_lora_training_jobs_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("lora_datasets.id", ondelete="RESTRICT"), index=True)
    preset_id: Mapped[str] = mapped_column(String(50))
    # A catalog/base_models.py hub id, checked at creation; rows from before the column get the default.
    base_model: Mapped[str] = mapped_column(
        String(200), default=DEFAULT_BASE_MODEL, server_default=DEFAULT_BASE_MODEL
    )
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    gpu_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    current_stage: Mapped[str | None] = mapped_column(String(100))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_epoch: Mapped[int] = mapped_column(Integer, default=0)
    total_epochs: Mapped[int] = mapped_column(Integer, default=0)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    current_metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    estimated_total_cost: Mapped[Decimal | None] = mapped_column(Money)
    current_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    final_cost: Mapped[Decimal | None] = mapped_column(Money)
    budget_limit: Mapped[Decimal | None] = mapped_column(Money)
    external_job_id: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_stack: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    artifact_id: Mapped[int | None] = mapped_column(BigInteger)
    # Lease taken by the cycle that claimed the job; a stale worker's writes are guarded by it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Run health (services/health.py): the job's check settings over catalog/health_checks.py's
    # defaults, and the checks' small running state, updated per ingested batch.
    health_checks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    health_state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    dataset: Mapped[Dataset] = relationship()


class MetricPoint(Base):
    __tablename__ = "lora_metrics_points"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_lora_metrics_points_job_step"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lora_training_jobs.id", ondelete="CASCADE"))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    epoch: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int] = mapped_column(Integer)
    training_loss: Mapped[float | None] = mapped_column(Float)
    validation_loss: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    gradient_norm: Mapped[float | None] = mapped_column(Float)
    throughput: Mapped[float | None] = mapped_column(Float)
    gpu_utilization: Mapped[float | None] = mapped_column(Float)


class MetricRollup(Base):
    """One step-aligned bucket of a job's points at one width (a power of two): what a chart needs of
    those points without reading them (services/metrics_buckets.BucketSummary holds the same). Per
    series: its point count, and the value and earliest step of its minimum and maximum (NULL when
    the bucket has none). Kept by the ingest path (db/metric_rollups.py), never by a read."""

    __tablename__ = "lora_metrics_rollups"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lora_training_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)  # step // width
    n: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(Integer)
    first_ts: Mapped[float] = mapped_column(Float)  # epoch seconds
    last_step: Mapped[int] = mapped_column(Integer)
    last_ts: Mapped[float] = mapped_column(Float)
    training_loss_n: Mapped[int] = mapped_column(Integer, default=0)
    training_loss_min: Mapped[float | None] = mapped_column(Float)
    training_loss_min_step: Mapped[int | None] = mapped_column(Integer)
    training_loss_max: Mapped[float | None] = mapped_column(Float)
    training_loss_max_step: Mapped[int | None] = mapped_column(Integer)
    validation_loss_n: Mapped[int] = mapped_column(Integer, default=0)
    validation_loss_min: Mapped[float | None] = mapped_column(Float)
    validation_loss_min_step: Mapped[int | None] = mapped_column(Integer)
    validation_loss_max: Mapped[float | None] = mapped_column(Float)
    validation_loss_max_step: Mapped[int | None] = mapped_column(Integer)
    learning_rate_n: Mapped[int] = mapped_column(Integer, default=0)
    learning_rate_min: Mapped[float | None] = mapped_column(Float)
    learning_rate_min_step: Mapped[int | None] = mapped_column(Integer)
    learning_rate_max: Mapped[float | None] = mapped_column(Float)
    learning_rate_max_step: Mapped[int | None] = mapped_column(Integer)
    gradient_norm_n: Mapped[int] = mapped_column(Integer, default=0)
    gradient_norm_min: Mapped[float | None] = mapped_column(Float)
    gradient_norm_min_step: Mapped[int | None] = mapped_column(Integer)
    gradient_norm_max: Mapped[float | None] = mapped_column(Float)
    gradient_norm_max_step: Mapped[int | None] = mapped_column(Integer)
    throughput_n: Mapped[int] = mapped_column(Integer, default=0)
    throughput_min: Mapped[float | None] = mapped_column(Float)
    throughput_min_step: Mapped[int | None] = mapped_column(Integer)
    throughput_max: Mapped[float | None] = mapped_column(Float)
    throughput_max_step: Mapped[int | None] = mapped_column(Integer)
    gpu_utilization_n: Mapped[int] = mapped_column(Integer, default=0)
    gpu_utilization_min: Mapped[float | None] = mapped_column(Float)
    gpu_utilization_min_step: Mapped[int | None] = mapped_column(Integer)
    gpu_utilization_max: Mapped[float | None] = mapped_column(Float)
    gpu_utilization_max_step: Mapped[int | None] = mapped_column(Integer)


class CostRecord(Base):
    __tablename__ = "lora_cost_records"
    __table_args__ = (UniqueConstraint("job_id", "cost_type", name="uq_lora_cost_records_job_type"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lora_training_jobs.id", ondelete="CASCADE"))
    cost_type: Mapped[str] = mapped_column(String(50))
    amount: Mapped[Decimal] = mapped_column(Money)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    billing_period: Mapped[str] = mapped_column(String(10))  # the UTC date, YYYY-MM-DD (spec E04)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    __tablename__ = "lora_notifications"
    __table_args__ = (Index("ix_lora_notifications_user_read_created", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(20), default="medium")
    action_url: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobEvent(Base):
    __tablename__ = "lora_job_events"
    __table_args__ = (Index("ix_lora_job_events_job_at", "job_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lora_training_jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(50))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100), default="system")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ModelArtifact(Base):
    __tablename__ = "lora_model_artifacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lora_training_jobs.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    storage_uri: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Webhook(Base):
    """A user's outgoing webhook: where to POST which notification events, in which body format.

    The signing secret is never stored: it is derived from SECRET_KEY and `secret_salt`
    (contract/signing.py `derive_webhook_secret`), shown once at creation (docs/security.md).
    """

    __tablename__ = "webhooks"
    __table_args__ = (CheckConstraint("format IN ('json', 'slack')", name="format"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    format: Mapped[str] = mapped_column(String(10), default="json")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written in the notification's transaction and then
    enqueued (`enqueued_at`); `status` is pending until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_enqueued", "status", "enqueued_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One delivery attempt, for the per-webhook log (the newest 50 are kept)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_webhook_at", "webhook_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL"), index=True
    )
    event: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
