"""People and API tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.lifecycle import ROLES
from ..extensions import db
from ..models import ApiToken, User, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "itk_"
# A token's moves are recorded with the actor "token:<name>", in an 80-character column.
TOKEN_ACTOR_PREFIX = "token:"
MAX_TOKEN_NAME = 80 - len(TOKEN_ACTOR_PREFIX)
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=5)
# Checked against when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class UserError(ValueError):
    pass


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def create_user(username: str, password: str, role: str) -> User:
    """Creates a user, or sets the password and role of an existing one (so the command can reset)."""
    if not USERNAME_RE.match(username or ""):
        raise UserError("a username is 2 to 80 letters, digits or . _ - @")
    _check_role(role)
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username)
        db.session.add(user)
    user.password_hash = generate_password_hash(password)
    user.role = role
    user.active = True
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    user.last_login_at = utcnow()
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(name: str, role: str) -> tuple[ApiToken, str]:
    """Returns the stored token row and the token itself, which is never stored and shown only now."""
    _check_role(role)
    name = (name or "").strip()
    if not name or len(name) > MAX_TOKEN_NAME:
        raise UserError(f"a token needs a name of 1 to {MAX_TOKEN_NAME} characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), role=role)
    db.session.add(row)
    db.session.flush()
    return row, token


def token_for(token: str) -> ApiToken | None:
    """The live token row for a presented token. Lookup is by SHA-256, so timing says nothing useful."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def record_token_use(row: ApiToken, now: dt.datetime | None = None) -> bool:
    """Notes when a token was last used, to within a few minutes; True when it wrote. Writing on every
    request would turn every API read into a write holding a lock on the token's row."""
    now = now or utcnow()
    if row.last_used_at is not None and now - row.last_used_at < TOKEN_USE_RESOLUTION:
        return False
    row.last_used_at = now
    db.session.flush()
    return True
