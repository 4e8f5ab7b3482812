"""Who is asking: staff sessions (Flask-Login) for pages, bearer tokens for the JSON API, and roles."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, jsonify, redirect, request, url_for
from flask_login import current_user

from .domain.lifecycle import role_at_least
from .extensions import db, login_manager
from .models import User
from .services.orders import Actor


def init_app(app):
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        return jsonify(error="log in or send an API token (Authorization: Bearer <token>)"), 401
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def wants_json() -> bool:
    # Also the scan page's own fetch (JSON in, JSON asked for): its errors (a CSRF refusal, a 413) must
    # come back as JSON it can read, not as an HTML page.
    return (request.path.startswith(("/api/", "/webhooks/")) or request.path.endswith(".json")
            or (request.is_json and request.accept_mimetypes.best == "application/json"))


def role_required(role: str):
    """For pages: a logged-in user of at least this role (admin > manager > operator)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not role_at_least(current_user.role, role):
                abort(403, description=f"This needs a {role} or above.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def page_actor() -> Actor:
    return Actor(current_user.username, current_user.role)


def load_api_token():
    """before_request for the API: sets g.actor from the bearer token or answers 401."""
    from .services.users import TOKEN_ACTOR_PREFIX, record_token_use, token_for

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return jsonify(error="send an API token: Authorization: Bearer <token>"), 401
    row = token_for(token.strip())
    if row is None:
        return jsonify(error="that API token is not valid (unknown or revoked)"), 401
    if record_token_use(row):
        # Its own short transaction: reads record use too (their session is never committed), and the
        # request that follows holds no lock on the token's row.
        db.session.commit()
    g.actor = Actor(f"{TOKEN_ACTOR_PREFIX}{row.name}"[:80], row.role)
    g.api_role = row.role
    return None


def api_role_required(role: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not role_at_least(g.get("api_role"), role):
                return jsonify(error=f"this needs a token with the {role} role or above"), 403
            return view(*args, **kwargs)

        return wrapped

    return decorator
