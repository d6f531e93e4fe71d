"""Forms of the console's account pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.models.enums import UserRole
from app.web.public.forms import options

_REQUIRED = _l("This field is required.")


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(message=_l("Please enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[
        DataRequired(message=_l("Please enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Sign in"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    return (
        PasswordField(_l("New password"), validators=[DataRequired(message=_REQUIRED)],
                      description=_l("At least 12 characters. A long phrase is easy to "
                                     "remember and hard to guess."),
                      render_kw={"autocomplete": "new-password"}),
        PasswordField(_l("New password (again)"), validators=[
            DataRequired(message=_REQUIRED),
            EqualTo("password", message=_l("The two passwords do not match."))],
            render_kw={"autocomplete": "new-password"}),
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(message=_REQUIRED)], render_kw={"autocomplete": "current-password"})
    password, password_confirm = _new_password_fields()
    submit = SubmitField(_l("Change password"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(message=_l("Please enter your email address.")),
        Email(message=_l("Please enter a valid email address, like taro@example.jp."),
              check_deliverability=False)])
    submit = SubmitField(_l("Send me a reset link"))


class ResetPasswordForm(FlaskForm):
    password, password_confirm = _new_password_fields()
    submit = SubmitField(_l("Set new password"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=options(
        [(UserRole.ADMIN.value, _l("Administrator")),
         (UserRole.ORGANIZER.value, _l("Organiser")),
         (UserRole.VIEWER.value, _l("Viewer"))]))
    submit = SubmitField(_l("Save"))


class NewUserForm(RoleForm):
    email = EmailField(_l("Email address"), validators=[
        DataRequired(message=_l("Please enter your email address.")),
        Email(message=_l("Please enter a valid email address, like taro@example.jp."),
              check_deliverability=False), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Length(max=100)])
    password, password_confirm = _new_password_fields()
