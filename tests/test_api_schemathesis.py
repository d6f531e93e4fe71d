"""The OpenAPI document against the running code: schemathesis generates requests for every
operation from the document (valid and invalid ones) and checks each answer.

The requests carry an organizer's token, and most of them name the event, registrations
and groups made here first, so that they reach the services rather than stop at a 404.
Checks: no server error, the status code and the content type are documented, and the
body matches the documented schema (problem documents included).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from app.extensions import db
from tests.api_support import World, bearer, build_world
from tests.conftest import _empty_all_tables, make_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def world_app(migrated_database: str) -> Iterator[tuple[Flask, World]]:
    app = make_app(migrated_database)
    with app.app_context():
        world = build_world(registrations=6)
    # No app context stays pushed: each generated request gets its own, as on a server.
    yield app, world
    with app.app_context():
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


# The document depends on the code alone, so an app without a database serves it; the
# requests go to the test's app (world_app), through its own client.
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", make_app("sqlite://", SERVER_NAME=None))


def _aim(case: Any, world: World) -> None:
    """Point three generated ids in four at the data made for the test (invalid ones, of
    the negative tests, stay as they are: 404)."""
    parameters = case.path_parameters or {}

    def generated(name: str) -> int | None:
        value = parameters.get(name)
        return value if type(value) is int and value % 4 != 3 else None

    if generated("event_id") is not None:
        parameters["event_id"] = world.event_id
    if (number := generated("registration_id")) is not None:
        parameters["registration_id"] = world.registration_ids[number % 6]


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case: Any, world_app: tuple[Flask, World]
                                               ) -> None:
    app, world = world_app
    _aim(case, world)
    case.call_and_validate(session=Client(app), headers=bearer(world.organizer), checks=CHECKS)
