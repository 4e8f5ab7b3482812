"""People and API tokens."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.lifecycle import ROLES
from ..domain.refusals import Invalid
from ..extensions import db
from ..models import ApiToken, LoginThrottle, User, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "itk_"
# A token's moves are recorded with the actor "token:<name>", in an 80-character column.
TOKEN_ACTOR_PREFIX = "token:"
MAX_TOKEN_NAME = 80 - len(TOKEN_ACTOR_PREFIX)
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=5)
# Werkzeug's default: scrypt (n=2**15, r=8, p=1). A password stored with an older scheme (pbkdf2) still
# verifies and is re-hashed with this one at its next good login.
HASH_METHOD = "scrypt"
# Checked against when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=HASH_METHOD)


class UserError(Invalid):
    """A username, password or role the rules refuse (the command line says it)."""


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
    user.password_hash = generate_password_hash(password, method=HASH_METHOD)
    user.role = role
    user.active = True
    unlock(username)  # setting a password (the reset) also lifts a lockout
    db.session.flush()
    return user


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome: the user, or None; `locked_until` when the name is locked out."""

    user: User | None
    locked_until: dt.datetime | None = None


def _throttle_key(username: str) -> str:
    return (username or "").strip().lower()[:80]


def authenticate(username: str, password: str, *, now: dt.datetime | None = None,
                 lockout_after: int = 10, lockout_minutes: int = 15) -> LoginResult:
    """Checks a username and password. `lockout_after` failures in a row lock the name for
    `lockout_minutes`, whether or not such a user exists (so the answer reveals nothing); a locked name is
    refused without looking at the password; a good login clears the count. Writes: the caller commits,
    also on failure (the count must stick)."""
    now = now or utcnow()
    key = _throttle_key(username)
    throttle = db.session.get(LoginThrottle, key) if key else None
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        return LoginResult(None, throttle.locked_until)
    user = db.session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        ok = False
    else:
        ok = check_password_hash(user.password_hash, password or "") and user.active
    if not ok:
        return LoginResult(None, _count_failure(key, now, lockout_after, lockout_minutes) if key else None)
    if throttle is not None:
        db.session.delete(throttle)
    if not user.password_hash.startswith(HASH_METHOD + ":"):
        user.password_hash = generate_password_hash(password, method=HASH_METHOD)
    user.last_login_at = now
    db.session.flush()
    return LoginResult(user)


def _count_failure(key: str, now: dt.datetime, lockout_after: int, lockout_minutes: int) -> dt.datetime | None:
    """One more failure for `key`, counted in the database (atomically: two tablets failing at once both
    count); returns when the name is locked until, if this failure locked it."""
    stale = LoginThrottle.locked_until.is_not(None) & (LoginThrottle.locked_until <= now)
    # A lock that has run out starts the count again.
    db.session.execute(update(LoginThrottle).where(LoginThrottle.username == key, stale)
                       .values(failures=0, locked_until=None))
    bumped = db.session.execute(update(LoginThrottle).where(LoginThrottle.username == key)
                                .values(failures=LoginThrottle.failures + 1, last_failed_at=now)).rowcount
    if not bumped:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(LoginThrottle).values(username=key, failures=1, last_failed_at=now))
        except IntegrityError:  # another request inserted it first
            db.session.execute(update(LoginThrottle).where(LoginThrottle.username == key)
                               .values(failures=LoginThrottle.failures + 1, last_failed_at=now))
    until = now + dt.timedelta(minutes=lockout_minutes)
    locked = db.session.execute(update(LoginThrottle)
                                .where(LoginThrottle.username == key, LoginThrottle.failures >= lockout_after,
                                       LoginThrottle.locked_until.is_(None))
                                .values(locked_until=until)).rowcount
    db.session.expire_all()
    return until if locked else None


def unlock(username: str) -> bool:
    """Lifts a lockout (and forgets the failures) for a username; True when there was something to lift."""
    done = db.session.execute(delete(LoginThrottle).where(LoginThrottle.username == _throttle_key(username))).rowcount
    db.session.flush()
    return bool(done)


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


def revoke_tokens(name: str, now: dt.datetime | None = None) -> int:
    """Revokes every live API token with this name (a leaked one); returns how many. They answer 401 from now."""
    done = db.session.execute(update(ApiToken).where(ApiToken.name == (name or "").strip(), ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now or utcnow())).rowcount
    db.session.flush()
    return done
