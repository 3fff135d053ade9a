"""`/account/tokens`: the signed-in user's own tokens, listed, created with an expiry (shown once)
and revoked, through Dash's callback endpoint; another user's token is out of reach."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from api.runtime import Runtime
from components.token_view import REVOKE_TYPE, tokens_table
from db.base import utcnow
from db.models import ApiToken
from pages._tokens_data import user_tokens
from tests.accounts import make_token, make_user
from tests.integration.dash_calls import call


def _create(client: FlaskClient, app: Any, name: object, lifetime: object) -> Any:
    return call(
        client,
        app,
        "create",
        [{"id": "token-create", "property": "n_clicks", "value": 1}],
        [
            {"id": "token-name", "property": "value", "value": name},
            {"id": "token-lifetime", "property": "value", "value": lifetime},
        ],
    )


def _revoke(client: FlaskClient, app: Any, token_id: int) -> Any:
    return call(
        client,
        app,
        "revoke_clicked",
        [[{"id": {"type": REVOKE_TYPE, "id": token_id}, "property": "n_clicks", "value": 1}]],
    )


def _hrefs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["href"]] if isinstance(node.get("href"), str) else []
        return found + [href for value in node.values() for href in _hrefs(value)]
    if isinstance(node, list):
        return [href for item in node for href in _hrefs(item)]
    return []


def _tokens(runtime: Runtime) -> list[ApiToken]:
    with runtime.transaction() as session:
        rows = list(session.scalars(select(ApiToken).order_by(ApiToken.id)).all())
        session.expunge_all()
        return rows


def test_tokens_page_is_in_the_nav_and_lists_only_own_tokens(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any]
) -> None:
    make_token(runtime, user["email"])
    make_user(runtime, "other@example.com")
    make_token(runtime, "other@example.com")
    assert auth_client.get("/account/tokens").status_code == 200
    with app.server.app_context():
        rows, now = user_tokens(user["id"])
    assert [(row.name, row.state) for row in rows] == [("test", "active")]
    table = str(tokens_table(rows, now).to_plotly_json())
    assert "Revoke" in table
    layout = auth_client.get("/_dash-layout").get_json()
    assert "/account/tokens" in _hrefs(layout)  # the navbar links to the page


def test_create_shows_the_token_once_with_the_chosen_expiry_and_it_works(
    auth_client: FlaskClient, app: Any, runtime: Runtime, client: FlaskClient
) -> None:
    response = _create(auth_client, app, "ci script", "30")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "shown once" in text
    (stored,) = _tokens(runtime)
    assert stored.name == "ci script"
    assert stored.expires_at is not None
    assert timedelta(days=29, hours=23) < stored.expires_at - utcnow() <= timedelta(days=30)
    token = text.split('"token-value"', 1)[0].rsplit('"lp_', 1)[1].split('"', 1)[0]
    headers = {"Authorization": f"Bearer lp_{token}"}
    assert client.get("/api/jobs", headers=headers).status_code == 200


def test_create_refuses_a_lifetime_the_page_does_not_offer(
    auth_client: FlaskClient, app: Any, runtime: Runtime
) -> None:
    for lifetime in ("0", "99999", "abc", None):
        response = _create(auth_client, app, "x", lifetime)
        assert response.status_code == 200
        assert "alert-danger" in response.get_data(as_text=True) or "danger" in response.get_data(
            as_text=True
        )
    # A value of a type the component cannot hold is refused before the callback runs
    # (api/dash_prop_types.py): a crafted request, never the page.
    assert _create(auth_client, app, "x", ["30"]).status_code == 400
    assert _tokens(runtime) == []


def test_revoke_ends_the_token_and_cannot_reach_another_users(
    auth_client: FlaskClient, app: Any, runtime: Runtime, user: dict[str, Any], client: FlaskClient
) -> None:
    mine = make_token(runtime, user["email"])
    make_user(runtime, "other@example.com")
    theirs = make_token(runtime, "other@example.com")
    my_id, their_id = (t.id for t in _tokens(runtime))

    assert _revoke(auth_client, app, their_id).status_code in (200, 204)
    assert client.get("/api/jobs", headers={"Authorization": f"Bearer {theirs}"}).status_code == 200

    response = _revoke(auth_client, app, my_id)
    assert response.status_code == 200
    assert "revoked" in response.get_data(as_text=True)
    assert client.get("/api/jobs", headers={"Authorization": f"Bearer {mine}"}).status_code == 401
