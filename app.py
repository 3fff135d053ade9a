"""The web process: Flask (JSON API, sign-in, signed downloads) with the Dash dashboard on top.

`create_app(settings)` builds everything; `server` is what gunicorn serves; `python app.py` runs the
development server on the embedded default.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html
from flask import Flask, has_request_context
from flask_login import current_user

from api.auth import init_auth
from api.compression import init_compression
from api.dash_requests import init_dash_requests
from api.errors import register_error_handlers
from api.request_parsing import init_request_parsing
from api.runtime import Runtime, install, ui_poll_seconds
from api.security_headers import init_security_headers
from components.aria import aria
from components.notification_view import navbar_bell
from settings import Settings

ROOT = Path(__file__).parent
# plotly.js's "basic" build (scatter, bar, pie; the same version as the Python package's full
# build): 0.36 MB brotli instead of 1.2 MB. An assets script runs before any dcc.Graph renders and
# defines window.Plotly, so dcc never fetches the full bundle (docs/architecture.md §1a).
PLOTLY_BUNDLE = ROOT / "assets" / "vendor" / "plotly-basic.min.js"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Dash:
    """Build the Flask server and the Dash app on it.

    The database schema must already be migrated (`lora-pipeline db upgrade`, or the demo/test
    fixtures); the app never creates tables behind the migrations' back.
    """
    settings = settings or Settings.from_env()
    runtime = runtime or Runtime.create(settings)
    server = Flask(__name__)
    server.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_upload_bytes)
    init_compression(
        server, warm=[PLOTLY_BUNDLE]
    )  # first: its after_request then runs last, on the finished response
    install(server, runtime)
    register_error_handlers(server)
    init_auth(server, settings)
    init_request_parsing(server)
    # Imported here, by name: a renamed or missing blueprint module stops the app at start-up.
    from api.api_fallback import bp as api_fallback_bp
    from api.artifacts_api import bp as artifacts_bp
    from api.callbacks_api import bp as callbacks_bp
    from api.datasets_api import bp as datasets_bp
    from api.health import bp as health_bp
    from api.jobs_api import bp as jobs_bp
    from api.notifications_api import bp as notifications_bp
    from api.storage import bp as storage_bp
    from api.webhooks_api import bp as webhooks_bp

    for blueprint in (
        health_bp,
        datasets_bp,
        jobs_bp,
        artifacts_bp,
        notifications_bp,
        webhooks_bp,
        storage_bp,
        callbacks_bp,
    ):
        server.register_blueprint(blueprint)
    server.register_blueprint(api_fallback_bp)  # last: JSON 404 for /api/* paths nothing else serves

    app = Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash accepts a Flask app; its stub says otherwise
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ROOT / "assets"),
        title="PIPELINE",
        update_title="",
        serve_locally=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = shell_layout
    app.clientside_callback(
        THEME_TOGGLE_JS,
        dash.Output("theme-store", "data"),
        dash.Input("theme-toggle", "n_clicks"),
        dash.State("theme-store", "data"),
    )
    init_dash_requests(app)
    init_security_headers(app)
    return app


def _nav_links() -> list[dbc.NavItem]:
    pages = [page for page in dash.page_registry.values() if page.get("nav_order") is not None]
    return [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="partial"))
        for page in sorted(pages, key=lambda page: page["nav_order"])
    ]


def navbar() -> dbc.Navbar:
    signed_in = has_request_context() and current_user.is_authenticated
    email = current_user.email if signed_in else ""
    account = html.Div(
        [
            html.Span(email, id="navbar-user", className="navbar-text me-3 small"),
            html.Button(
                html.I(className="bi bi-circle-half", **aria(hidden=True)),
                id="theme-toggle",
                className="btn btn-sm btn-outline-light me-2",
                title="Switch light/dark theme",
                **aria("Switch light or dark theme"),
            ),
            html.Form(
                html.Button("Sign out", type="submit", className="btn btn-sm btn-outline-light", id="logout"),
                method="post",
                action="/logout",
                className="d-inline",
            ),
        ],
        className="d-flex align-items-center ms-auto",
    )
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(
                    [html.I(className="bi bi-diagram-3 me-2"), "PIPELINE"], href="/training/jobs"
                ),
                # Outside the collapse so the bell stays visible on phones; last on wide screens.
                html.Div(
                    navbar_bell(ui_poll_seconds()),
                    id="navbar-extra",
                    className="ms-auto me-2 order-md-last",
                ),
                dbc.NavbarToggler(id="navbar-toggler"),
                dbc.Collapse(
                    [
                        dbc.Nav(_nav_links(), navbar=True, className="me-auto"),
                        account,
                    ],
                    id="navbar-collapse",
                    navbar=True,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


def shell_layout() -> html.Div:
    """The app-wide frame; evaluated per request so the navbar shows the signed-in user."""
    return html.Div(
        [
            dcc.Store(id="theme-store", storage_type="local"),
            navbar(),
            dbc.Container(dash.page_container, fluid="xxl", className="pb-5", id="page-frame"),
        ]
    )


# The theme toggle, in the browser. Bound to each app in create_app (not `dash.clientside_callback`,
# whose global list reaches only the first app a process builds: a second app's toggle did nothing).
THEME_TOGGLE_JS = """
function(clicks, stored) {
    let theme = stored || (window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
    if (clicks) { theme = theme === 'dark' ? 'light' : 'dark'; }
    document.documentElement.setAttribute('data-bs-theme', theme);
    return theme;
}
"""


def _dev_server() -> None:
    from db.migrate import upgrade

    settings = Settings.from_env(require_secrets=False)
    runtime = Runtime.create(settings)
    upgrade(runtime.engine)
    create_app(settings, runtime=runtime).run(debug=True, port=8050)


def create_server() -> Flask:
    """The WSGI app for gunicorn's factory syntax (`gunicorn 'app:create_server()'`)."""
    return create_app().server


def __getattr__(name: str) -> Flask:
    """`gunicorn app:server` support without building an app (and reading the environment) at import."""
    if name == "server":
        return create_app().server
    raise AttributeError(name)


if __name__ == "__main__":
    _dev_server()
