"""OpenAPI fuzzing with schemathesis: a fixed seed, a bounded number of cases, and no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error

CASES_PER_OPERATION = 25


def test_no_request_the_schema_allows_gets_a_server_error(app, scanned):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    tried = 0
    for operation in operations:
        if operation.path.endswith("/events"):
            continue  # a stream: covered by the jobs tests (and fuzzing it would wait on live jobs)

        @seed(20261126)
        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            if "slug" in case.path_parameters and case.path_parameters["slug"] != scanned.slug:
                case.path_parameters["slug"] = (
                    scanned.slug
                    if len(case.path_parameters["slug"]) % 2
                    else case.path_parameters["slug"]
                )
            case.call_and_validate(checks=[not_a_server_error])

        try:
            fuzz()
        except Exception as exc:  # name the operation in the failure
            pytest.fail(f"{operation.method.upper()} {operation.path}: {exc}")
        tried += 1
    assert tried >= 11
