"""Organizer accounts: sign-in, throttling, passwords, roles, and access to every console URL."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, OutboxMessage, User
from app.models.enums import MessageKind, UserRole
from app.services import accounts
from app.web.console.access import PUBLIC_ENDPOINTS
from tests.conftest import app_context_for, csrf_token_from
from tests.factories import PASSWORD, AuthActions, make_event, make_user


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


def test_sign_in_and_out(client, app, auth):
    make_user()
    assert client.get("/console/").status_code == 302
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    logout = client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    assert logout.status_code == 302
    assert client.get("/console/").status_code == 302


def test_wrong_password_and_unknown_account_look_the_same(client, app, auth):
    make_user()
    wrong = auth.login(password="wrong password!!")
    unknown = auth.login(email="nobody@example.jp")
    assert wrong.status_code == unknown.status_code == 401
    assert "not correct" in wrong.text and "not correct" in unknown.text


def test_disabled_accounts_cannot_sign_in(client, app, auth):
    user = make_user()
    user.active = False
    db.session.commit()
    assert auth.login().status_code == 401


def test_next_only_goes_to_this_site(client, app):
    make_user()
    for target, expected in [("/console/password", "/console/password"),
                             ("https://evil.example/", "/console/"),
                             ("//evil.example/", "/console/")]:
        page = client.get("/console/login")  # signing in renews the session and its token
        response = client.post(f"/console/login?next={target}", data={
            "csrf_token": csrf_token_from(page.text), "email": "organizer@example.lg.jp",
            "password": PASSWORD})
        assert response.headers["Location"] == expected


def test_session_cookie_is_renewed_at_sign_in(client, app, auth):
    make_user()
    client.get("/console/login")
    before = client.get_cookie("session").value
    auth.login()
    assert client.get_cookie("session").value != before
    cookie = [h for h in client.get("/console/").headers.getlist("Set-Cookie")] or [""]
    assert all("session=" not in c or "HttpOnly" in c for c in cookie)


def test_changing_the_password_signs_out_other_sessions(app):
    make_user()
    first, second = app.test_client(), app.test_client()
    AuthActions(first).login()
    AuthActions(second).login()
    token = AuthActions(first).csrf_token()
    short = first.post("/console/password", data={
        "csrf_token": token, "current_password": PASSWORD, "password": "short",
        "password_confirm": "short"})
    assert short.status_code == 422 and "at least 12" in short.text
    wrong = first.post("/console/password", data={
        "csrf_token": token, "current_password": "nope", "password": "a much longer secret",
        "password_confirm": "a much longer secret"})
    assert wrong.status_code == 422
    changed = first.post("/console/password", data={
        "csrf_token": token, "current_password": PASSWORD, "password": "a much longer secret",
        "password_confirm": "a much longer secret"})
    assert changed.status_code == 302
    assert first.get("/console/").status_code == 200
    assert second.get("/console/").status_code == 302  # the other session has ended


def test_password_reset_by_emailed_link(client, app, auth):
    user = make_user()
    page = client.get("/console/forgot")
    sent = client.post("/console/forgot", data={"csrf_token": csrf_token_from(page.text),
                                                "email": user.email})
    assert sent.status_code == 302
    client.post("/console/forgot", data={"csrf_token": csrf_token_from(page.text),
                                         "email": "nobody@example.jp"})
    messages = db.session.execute(select(OutboxMessage)).scalars().all()
    assert [m.recipient for m in messages] == [user.email]
    assert messages[0].kind is MessageKind.PASSWORD_RESET
    link = re.search(r"http://localhost(/console/reset/\S+)", messages[0].body_text).group(1)
    form = client.get(link)
    done = client.post(link, data={"csrf_token": csrf_token_from(form.text),
                                   "password": "brand new passphrase",
                                   "password_confirm": "brand new passphrase"})
    assert done.status_code == 302
    assert auth.login(password="brand new passphrase").status_code == 302
    form = client.get(link)
    reused = client.post(link, data={"csrf_token": csrf_token_from(form.text),
                                     "password": "another passphrase!",
                                     "password_confirm": "another passphrase!"})
    assert reused.status_code == 302 and "forgot" in reused.headers["Location"]
    assert client.get("/console/reset/garbage").status_code == 200


def test_passwords_are_hashed_with_scrypt(app):
    user = make_user()
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_cli_creates_lists_and_changes_roles(app):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["users", "create", "Admin@Example.lg.jp", "--role", "admin",
                                  "--password-stdin"], input="a long enough password\n")
    assert created.exit_code == 0, created.output
    assert "admin@example.lg.jp (admin)" in created.output
    prompted = runner.invoke(args=["users", "create", "viewer@example.lg.jp", "--role",
                                   "viewer"], input="another long password\n" * 2)
    assert prompted.exit_code == 0, prompted.output
    weak = runner.invoke(args=["users", "create", "weak@example.lg.jp", "--password-stdin"],
                         input="short\n")
    assert weak.exit_code != 0 and "12文字以上" in weak.output  # commands speak Japanese
    duplicate = runner.invoke(args=["users", "create", "admin@example.lg.jp",
                                    "--password-stdin"], input="a long enough password\n")
    assert duplicate.exit_code != 0
    listing = runner.invoke(args=["users", "list"]).output
    assert "admin@example.lg.jp\tadmin" in listing and "viewer@example.lg.jp\tviewer" in listing
    changed = runner.invoke(args=["users", "set-role", "viewer@example.lg.jp", "organizer"])
    assert changed.exit_code == 0
    assert accounts.find_user(db.session, "viewer@example.lg.jp").role is UserRole.ORGANIZER
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"user.create", "user.set_role"} <= actions


def test_admin_pages_are_for_admins(client, app, auth):
    make_user()
    make_user("admin@example.lg.jp", role="admin")
    auth.login()
    assert client.get("/console/users").status_code == 403
    assert client.get("/console/audit").status_code == 403
    client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    auth.login("admin@example.lg.jp")
    assert client.get("/console/users").status_code == 200
    assert client.get("/console/audit").status_code == 200


def test_dashboard_shows_only_my_events(client, app, auth):
    mine = make_event(title="私のイベント")
    theirs = make_event(title="他の人のイベント")
    make_user(events=[mine])
    make_user("other@example.lg.jp", events=[theirs])
    auth.login()
    page = client.get("/console/").text
    assert "私のイベント" in page and "他の人のイベント" not in page


def test_login_is_throttled_per_account_and_per_address(migrated_database):
    with app_context_for(migrated_database, RATELIMIT_ENABLED=True,
                         LOGIN_RATE_LIMIT_PER_ACCOUNT="3 per minute",
                         LOGIN_RATE_LIMIT_PER_ADDRESS="5 per minute") as app:
        make_user()
        client = app.test_client()
        auth = AuthActions(client)
        codes = [auth.login(password="wrong password!!").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]  # this account is locked for a minute
        other = [auth.login(email=f"x{i}@example.jp").status_code for i in range(3)]
        assert other[0] == 401 and other[-1] == 429  # this address has used its tries


def console_rules(app: Flask) -> list:
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("console.") and rule.endpoint not in PUBLIC_ENDPOINTS]


def fill(rule, event_id: int) -> str:
    values = {}
    for argument in rule.arguments:
        values[argument] = event_id if argument.endswith("id") else "x"
    return rule.build(values, append_unknown=False)[1]


def test_every_console_url_refuses_anonymous_users(client, app):
    event = make_event()
    rules = console_rules(app)
    assert len(rules) >= 5
    page = client.get("/console/login")
    token = csrf_token_from(page.text)
    for rule in rules:
        url = fill(rule, event.id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/console/login"), url


def test_every_event_url_refuses_users_of_other_events(client, app, auth):
    mine, theirs = make_event(), make_event()
    make_user(events=[mine])
    auth.login()
    token = auth.csrf_token()
    for rule in console_rules(app):
        if not any(argument.startswith("event") for argument in rule.arguments):
            continue
        url = fill(rule, theirs.id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (method, url, response.status_code)
    assert db.session.get(User, 1) is not None
