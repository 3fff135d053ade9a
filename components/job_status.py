"""How a job status looks, in one place: badge colour, icon and label, the progress bar's colour.

The specification's colours (queued blue with a clock, initializing yellow with a spinner, running
green with activity, completed emerald with a check, failed red with an x, cancelled gray with an
x) are ``.status-look--<status>`` rules in ``assets/status.css``, chosen so the badge's text
passes WCAG AA (4.5:1) on its own background in both themes (figures in docs/architecture.md §8).
The monitor, the jobs list and the activity log all read ``STATUS_LOOKS``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dash import html

from components.aria import aria, decorative_icon

SPINNER = "spinner"  # the icon slot of a status drawn with a spinner instead of a glyph


class StatusLook(NamedTuple):
    icon: str  # bootstrap-icons class, or SPINNER
    label: str

    @property
    def css(self) -> str:
        """The class that colours a badge or a progress bar (``assets/status.css``)."""
        return f"status-look--{self.label.lower()}"


STATUS_LOOKS: dict[str, StatusLook] = {
    "queued": StatusLook("bi-clock", "Queued"),
    "initializing": StatusLook(SPINNER, "Initializing"),
    "running": StatusLook("bi-activity", "Running"),
    "completed": StatusLook("bi-check-circle", "Completed"),
    "failed": StatusLook("bi-x-circle", "Failed"),
    "cancelled": StatusLook("bi-x-circle", "Cancelled"),
}
_UNKNOWN = StatusLook("bi-question-circle", "Unknown")


def status_look(status: str) -> StatusLook:
    """The look of ``status``; an unknown one is gray with a question mark and its own name."""
    look = STATUS_LOOKS.get(status)
    if look is not None:
        return look
    return _UNKNOWN._replace(label=str(status).capitalize() or _UNKNOWN.label)


def status_icon(status: str, extra: str = "") -> Any:
    """The status's icon, hidden from screen readers (the label next to it says it)."""
    look = status_look(status)
    if look.icon == SPINNER:
        return html.Span(className=f"spinner-border status-spinner {extra}".strip(), **aria(hidden=True))
    return decorative_icon(look.icon, extra)


def status_badge(status: str) -> html.Span:
    """A coloured badge with icon and text for a job status (Bootstrap's ``.badge`` shape; the
    status class paints it, so no ``bg-*`` contextual colour is involved)."""
    look = status_look(status)
    return html.Span(
        [status_icon(status, "me-1"), look.label],
        className=f"badge status-badge {status_class(status)}",
        title=f"Job status: {look.label}",
    )


def status_class(status: str) -> str:
    """The ``status-look--*`` class of ``status`` (an unknown one is ``status-look--unknown``)."""
    return status_look(status).css if status in STATUS_LOOKS else "status-look--unknown"


def progress_style(status: str) -> tuple[str, bool]:
    """(class of the ``dbc.Progress``, striped-and-animated): the bar takes the badge's colours
    (``assets/status.css``), and its stripes move only while running."""
    return status_class(status), status == "running"
