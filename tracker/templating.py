"""Jinja filters and globals: stage labels, shop-local times, durations."""
from __future__ import annotations

import datetime as dt

from flask import has_request_context, request

from .domain.intake import METHOD_LABELS
from .domain.lifecycle import role_at_least
from .domain.sla import due_status, is_stalled, stall_cutoff
from .models import utcnow
from .settings import current_settings


def humanize_duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def init_app(app):
    @app.template_global("may")
    def may(role: str) -> bool:
        """Whether the signed-in person has at least this role (admin > manager > operator): the pages ask
        this, not the role's name, as the views' role_required does."""
        from flask_login import current_user

        return bool(current_user.is_authenticated) and role_at_least(current_user.role, role)

    @app.template_filter("stage_label")
    def stage_label(key):
        return current_settings().lifecycle.label(key)

    @app.template_filter("method_label")
    def method_label(key):
        return METHOD_LABELS.get(key, key)

    @app.template_filter("local")
    def local(value: dt.datetime | None, fmt: str = "%b %d, %H:%M"):
        if value is None:
            return ""
        return value.astimezone(current_settings().shop.tz).strftime(fmt)

    @app.template_filter("since")
    def since(value: dt.datetime | None):
        return humanize_duration(utcnow() - value) if value else ""

    @app.template_global("stalled")
    def stalled(stage, entered_at):
        """Past the stage's SLA in the shop's SLA calendar (open hours, or wall-clock without one). The board
        asks for up to 10,000 cards: within a request, one cut-off per stage, then a comparison per card."""
        if not stage.sla_hours or entered_at is None:
            return False
        if not has_request_context():
            return is_stalled(stage.sla_hours, entered_at, utcnow(), current_settings().sla_calendar)
        # Kept on the request, not on g: a request may share an app context that outlives it.
        cache = request.environ.get("inktrail.stall_cutoffs")
        if cache is None:
            cache = request.environ["inktrail.stall_cutoffs"] = {"now": utcnow()}
        key = (stage.key, stage.sla_hours)
        if key not in cache:
            cache[key] = stall_cutoff(stage.sla_hours, cache["now"], current_settings().sla_calendar)
        return entered_at < cache[key]

    @app.context_processor
    def proof_settings():
        return {"proof_stage": current_settings().proofs.stage}

    @app.template_global("due_status")
    def due_status_today(due):
        return due_status(due, utcnow().astimezone(current_settings().shop.tz).date())

    @app.template_filter("dict_without")
    def dict_without(d: dict, *keys):
        return {k: v for k, v in d.items() if k not in keys}

    @app.template_filter("local_iso")
    def local_iso(value: str | None, fmt: str = "%H:%M:%S"):
        if not value:
            return ""
        return dt.datetime.fromisoformat(value).astimezone(current_settings().shop.tz).strftime(fmt)

    @app.context_processor
    def shop_context():
        settings = current_settings()
        return {"shop": settings.shop, "lifecycle": settings.lifecycle,
                "today": utcnow().astimezone(settings.shop.tz).date()}
