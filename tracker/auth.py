"""Who is asking: staff sessions (Flask-Login) for pages, bearer tokens for the JSON API, and roles."""
from __future__ import annotations

import time
from functools import wraps

from flask import abort, current_app, g, has_app_context, jsonify, redirect, request, url_for
from flask_login import UserMixin, current_user
from sqlalchemy import event as sa_event, select
from sqlalchemy.orm import Session

from .domain.lifecycle import role_at_least
from .extensions import db, login_manager
from .models import User
from .services.orders import Actor


def init_app(app):
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


# The login check of every staff request (Flask-Login's user loader) reads the person's row at most once
# per SIGNED_IN_SECONDS per process: a scan station posts several times a second, and the row it read was
# the first statement of every scan's transaction. A change to a user made in this process (deactivated,
# role changed, deleted) is seen at once, whichever way it was made through the ORM; one made by another
# process (a second server on PostgreSQL, a command) within SIGNED_IN_SECONDS.
SIGNED_IN_SECONDS = 5.0


class SignedIn(UserMixin):
    """The logged-in person as a page sees them (current_user): a plain copy of their row, never an ORM
    object, so nothing reloads it after a commit. Code that changes a user loads the row itself."""

    def __init__(self, id: int, username: str, role: str, active: bool):
        self.id, self.username, self.role, self.active = id, username, role, active

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


def _signed_in_cache() -> dict:
    return current_app.extensions.setdefault("tracker_signed_in", {})


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        return None
    cache = _signed_in_cache()
    now = time.time()
    hit = cache.get(key)
    if hit is not None and 0 <= now - hit[0] < SIGNED_IN_SECONDS:
        return hit[1]
    row = db.session.execute(select(User.id, User.username, User.role, User.active).where(User.id == key)).first()
    if row is None:
        cache.pop(key, None)
        return None
    person = SignedIn(row.id, row.username, row.role, bool(row.active))
    cache[key] = (now, person)
    return person


def _user_row_changed(_mapper, _connection, _target) -> None:
    if has_app_context():
        _signed_in_cache().clear()


def _users_changed_in_bulk(execute_state) -> None:
    # An UPDATE or DELETE of users written as a statement (not through objects) clears the cache too.
    if (execute_state.is_update or execute_state.is_delete) and has_app_context():
        mapper = execute_state.bind_mapper
        if mapper is not None and mapper.class_ is User:
            _signed_in_cache().clear()


for _name in ("after_insert", "after_update", "after_delete"):  # fired for users' rows only
    sa_event.listen(User, _name, _user_row_changed)
sa_event.listen(Session, "do_orm_execute", _users_changed_in_bulk)


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
