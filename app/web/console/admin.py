"""Administration: accounts and the audit log (administrators only)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, User
from app.models.enums import UserRole
from app.services import accounts
from app.services.errors import DomainError
from app.web.console import bp
from app.web.console.access import admin_only, signed_in_user
from app.web.console.forms import NewUserForm, RoleForm

AUDIT_PAGE_SIZE = 50


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    admin_only()
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            accounts.create_user(db.session, form.email.data or "", form.password.data or "",
                                 UserRole(form.role.data), form.display_name.data or "",
                                 actor=signed_in_user())
        except DomainError as error:
            getattr(form, error.field or "email").errors = [error.message]
        else:
            flash(_("The account has been created."), "success")
            return redirect(url_for("console.users"))
    accounts_list = db.session.execute(select(User).order_by(User.email)).scalars().all()
    return render_template("console/users.html", users=accounts_list, form=form,
                           role_form=RoleForm()), 422 if form.errors else 200


@bp.post("/users/<int:user_id>/role")
def set_user_role(user_id: int) -> ResponseReturnValue:
    admin_only()
    form = RoleForm()
    user = db.get_or_404(User, user_id)
    if form.validate_on_submit():
        accounts.set_role(db.session, user.email, UserRole(form.role.data),
                          actor=signed_in_user())
        flash(_("The role has been changed."), "success")
    return redirect(url_for("console.users"))


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    admin_only()
    page = db.paginate(select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()),
                       page=request.args.get("page", 1, type=int), per_page=AUDIT_PAGE_SIZE,
                       error_out=False)
    return render_template("console/audit.html", page=page)
