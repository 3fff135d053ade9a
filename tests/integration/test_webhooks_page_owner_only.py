"""/account/webhooks through Dash's callback endpoint: a crafted callback naming another user's
webhook deletes nothing, sends nothing and shows nothing of it."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from api.runtime import Runtime
from components.webhook_view import DELETE_TYPE, TEST_TYPE
from db.models import Webhook, WebhookDelivery
from services.webhooks import create_webhook
from tests.accounts import SECRET, make_user
from tests.integration.dash_calls import call

pytestmark = [pytest.mark.postgres]

MALLORY_URL = "https://93.184.215.14/mallory-private-hook"


@pytest.fixture
def mallory_hook(runtime: Runtime) -> int:
    user_id = make_user(runtime, "mallory@example.com")
    with runtime.transaction() as session:
        created = create_webhook(
            session,
            user_id,
            url=MALLORY_URL,
            events=["job_failed"],
            name="mallory ops",
            secret_key=SECRET,
            allow_private=False,
        )
        return created.webhook.id


def _click(kind: str, webhook_id: int) -> list[list[dict[str, Any]]]:
    return [[{"id": {"id": webhook_id, "type": kind}, "property": "n_clicks", "value": 1}]]


def test_another_users_webhook_cannot_be_deleted_tested_or_read(
    auth_client: FlaskClient, app: Any, runtime: Runtime, mallory_hook: int
) -> None:
    deleted = call(auth_client, app, "delete_clicked", _click(DELETE_TYPE, mallory_hook))
    tested = call(auth_client, app, "send_test_clicked", _click(TEST_TYPE, mallory_hook))
    shown = call(
        auth_client,
        app,
        "show_log",
        [
            {"id": "webhook-selected", "property": "data", "value": mallory_hook},
            {"id": "webhook-log-poll", "property": "n_intervals", "value": 0},
        ],
        [{"id": "webhook-watch", "property": "data", "value": None}],
    )
    for response in (deleted, tested, shown):
        assert response.status_code in (200, 204)
        text = response.get_data(as_text=True)
        assert "mallory" not in text
        assert MALLORY_URL not in text
    with runtime.transaction() as session:
        assert session.get(Webhook, mallory_hook) is not None
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
