"""Signing in and out, and passwords."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from app.extensions import db, limiter
from app.i18n import current_language
from app.services import accounts
from app.services.errors import DomainError
from app.text import normalize_email
from app.web.console import bp
from app.web.console.access import signed_in_user
from app.web.console.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    ResetPasswordForm,
)


def _login_account_key() -> str:
    return "login-account:" + normalize_email(request.form.get("email", ""))[:254]


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an unchecked ?next= would be an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"], methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ACCOUNT"], methods=["POST"],
               key_func=_login_account_key)
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data or "", form.password.data or "")
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(user)
            return redirect(next_url)
        form.password.errors = [_("The email address or password is not correct.")]
        return render_template("console/login.html", form=form), 401
    status = 422 if form.errors else 200
    return render_template("console/login.html", form=form), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if LogoutForm().validate_on_submit():
        logout_user()
        session.clear()
        flash(_("You have signed out."), "success")
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = signed_in_user()
        try:
            accounts.change_password(db.session, user.id, form.current_password.data or "",
                                     form.password.data or "")
        except DomainError as error:
            getattr(form, error.field or "password").errors = [error.message]
            return render_template("console/password.html", form=form), 422
        login_user(db.session.get(type(user), user.id))  # keep this session, end the others
        flash(_("Your password has been changed."), "success")
        return redirect(url_for("console.dashboard"))
    return render_template("console/password.html", form=form), 422 if form.errors else 200


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"], methods=["POST"])
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(db.session, form.email.data or "", current_language())
        flash(_("If an account exists for this address, we have sent it a link to reset the "
                "password."), "success")
        return redirect(url_for("console.login"))
    return render_template("console/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(db.session, token, form.password.data or "")
        except DomainError as error:
            target = form.password if error.field else None
            if target is not None:
                target.errors = [error.message]
                return render_template("console/reset.html", form=form), 422
            flash(str(error.message), "error")
            return redirect(url_for("console.forgot_password"))
        flash(_("Your password has been changed. Please sign in."), "success")
        return redirect(url_for("console.login"))
    return render_template("console/reset.html", form=form), 422 if form.errors else 200
