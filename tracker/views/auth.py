from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter
from ..forms import LoginForm
from ..security import security_settings
from ..services.users import authenticate

bp = Blueprint("auth", __name__)

BAD_LOGIN = "That username and password do not match."


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never bounce a fresh login to another host.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("board.index")


def _locked_message(minutes: int) -> str:
    # The same words whether or not the username exists: a lockout says nothing about who has an account.
    return (f"Too many failed logins for that username: it is locked for {minutes} minutes. "
            "Wait, or ask an admin to unlock it (flask --app app tracker unlock-user NAME).")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: security_settings().login_rate, methods=["POST"], scope="login")  # per client address
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        minutes = security_settings().lockout_minutes
        result = authenticate(form.username.data, form.password.data, lockout_after=security_settings().lockout_after,
                              lockout_minutes=minutes)
        db.session.commit()  # a failure is counted too
        if result.user is not None:
            login_user(result.user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        if result.locked_until is not None:
            flash(_locked_message(minutes), "error")
            status = 429
        else:
            flash(BAD_LOGIN, "error")
            status = 401
    elif request.method == "POST":
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
