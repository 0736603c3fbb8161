"""Schemathesis against the API's own OpenAPI schema: for generated requests,
no 5xx, and every response matches the schema."""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from accounts import roles
from api import services
from api.api import api
from api.models import ApiKey
from tests.base import make_account, make_signals, make_user


@pytest.fixture
def api_schema(db):
    # As Django's test client does: the request cycle must not close the test's
    # connection (its transaction holds the test data).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        # The document as the API object makes it (its page is for signed-in staff),
        # called through the WSGI application.
        schema = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema())))
        schema.app = get_wsgi_application()
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def key(db):
    admin = make_user("root", roles.ADMINISTRATOR)
    make_signals(make_account(reference="LD-API-1"))
    return services.api_key_create(name="all", scopes=list(ApiKey.Scope.values), actor=admin)[1]


def test_no_server_error_and_every_response_matches_the_schema(api_schema, key):
    # Each operation's generated requests through Hypothesis directly (schemathesis's
    # pytest plugin does not run under this pytest).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/signals/events", "/api/v1/decisions"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case):
            # Schema-valid requests may still be refused on their meaning (an
            # evidence file that is no PDF, PNG or JPEG): that is a 4xx, not a failure.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {key}"},
                excluded_checks=[checks.positive_data_acceptance],
            )

        check()
