"""Jinja filters and globals: stage labels, shop-local times, durations."""
from __future__ import annotations

import datetime as dt

from flask import request

from .domain.intake import METHOD_LABELS
from .domain.sla import due_status, is_stalled
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
        return is_stalled(stage.sla_hours, entered_at, utcnow())

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
        return {"shop": settings.shop, "lifecycle": settings.lifecycle, "is_htmx": request.headers.get("HX-Request") == "true",
                "today": utcnow().astimezone(settings.shop.tz).date()}
