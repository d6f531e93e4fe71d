"""Personal API tokens: create one (its secret is shown once, on the answer to the POST),
see them, revoke them. Each token acts as the signed-in user in the JSON API."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.extensions import db
from app.services import api_tokens
from app.services.errors import DomainError, NotFound
from app.web.console import bp
from app.web.console.access import signed_in_user


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Please give the token a name.")),
        Length(max=api_tokens.MAX_NAME, message=_l("Please use at most %(max)d characters."))],
        description=_l("What the token is for, like “attendance system”, so that you can "
                       "tell your tokens apart."))
    submit = SubmitField(_l("Create token"))


def _page(form: TokenForm, status: int = 200, secret: str | None = None) -> ResponseReturnValue:
    return render_template(
        "console/tokens.html", form=form, secret=secret,
        tokens=api_tokens.list_tokens(db.session, signed_in_user()),
    ), status


@bp.get("/tokens")
def tokens() -> ResponseReturnValue:
    return _page(TokenForm())


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate():
        return _page(form, 422)
    try:
        issued = api_tokens.create_token(db.session, signed_in_user(), form.name.data or "")
    except DomainError as error:
        form.name.errors = [*form.name.errors, error.message]
        return _page(form, 422)
    # Shown in this answer only: a redirect would have to carry the secret in the session.
    return _page(TokenForm(formdata=None), 201, secret=issued.secret)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    """CSRFProtect has checked the form's token, as for every POST of the console."""
    try:
        token = api_tokens.revoke_token(db.session, signed_in_user(), token_id)
    except NotFound:
        abort(404)
    flash(_("The token “%(name)s” has been revoked: it no longer works.", name=token.name),
          "success")
    return redirect(url_for("console.tokens"))
