"""A bounded property-based fuzz pass over every operation of the OpenAPI schema (schemathesis).

The service is ``fenghuo run`` with the example configuration on 127.0.0.1 (tests/fuzz_support.py), holding
real alerts. For each operation schemathesis generates requests from the served schema — parameters and
bodies that fit it and ones that do not, POST /v1/events with its documented event body — each sent with
the key of a role, with no key or with a wrong key. Every answer must be below 500, use a documented status
code, content type and headers, and match the documented response schema; a request outside the schema must
get a 4xx. A failure shows schemathesis' reproduction
(curl) and the service's log lines written while the request ran (the server's traceback for a 500).

Bounded and reproducible: a fixed number of examples per operation, derandomized, no example database.
(schemathesis' own pytest plugin is not used: its lazy loader does not work with pytest 9.2's node ids;
Hypothesis drives the strategies schemathesis builds for each operation instead.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz_support import CALLERS, NDJSON, Known, headers_for, operations, seed, start_service
from tests.support import Receiver, Service

EXAMPLES = int(os.environ.get("FENGHUO_FUZZ_EXAMPLES", "80"))  # per operation; more by hand to fuzz harder
STREAM_SECONDS = 0.5  # GET /v1/alerts/stream never ends by itself: read until it is silent this long
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
# POST /v1/events answers 200 to a batch whose records break the event schema: each is rejected in the answer
# (index and reason), the rest are kept; so a request outside the schema is not expected to get a 4xx there
CHECKS_FOR = {"/v1/events": [c for c in CHECKS if c is not negative_data_rejection]}
schemathesis.serializer.alias(NDJSON, "text/plain")  # POST /v1/events also takes NDJSON: a text body, sent as is
OPERATIONS = operations()  # (method, path) of the schema the app builds, known without starting it


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Known]]:
    receiver = Receiver()
    svc = start_service(tmp_path_factory.mktemp("fuzz"), receiver.url)
    try:
        yield svc, seed(svc)
    finally:
        svc.stop()
        receiver.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_service: tuple[Service, Known]) -> Any:
    svc, _ = fuzz_service
    served = httpx.get(svc.url + "/openapi.json", timeout=30).json()
    config = schemathesis.Config.from_dict({"base-url": svc.url, "request-timeout": 30,
                                            "generation": {"deterministic": True, "database": "none"}})
    return schemathesis.openapi.from_dict(served, config=config)


def test_the_fuzzed_operations_are_all_the_served_ones(api_schema: Any) -> None:
    served = {(m.upper(), p) for p, ops in api_schema.raw_schema["paths"].items() for m in ops}
    assert served == set(OPERATIONS)


def test_post_events_documents_its_body(api_schema: Any) -> None:
    body = api_schema.raw_schema["paths"]["/v1/events"]["post"].get("requestBody", {})
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    assert schema.get("oneOf") or schema.get("properties"), "POST /v1/events documents no event body"


def cases(operation: Any, known: Known) -> st.SearchStrategy[Any]:
    """Requests that fit the operation's schema; (where it has anything to break) ones that do not; and ones
    with ids, parameters and bodies that exist in the service (so real alerts are acked, rules replaced)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.body or operation.headers:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    fixed = known.fixed(operation)
    if fixed is not None:
        strategies.append(fixed.flatmap(lambda kw: operation.as_strategy(GenerationMode.POSITIVE, **kw)))
    return st.one_of(strategies)


def send(session: requests.Session, case: Any, base_url: str, caller: str) -> requests.Response:
    """The case as one HTTP request (schemathesis serializes it; its own sender is not used, as it does not
    work with urllib3 2.8). The alert stream is read for :data:`STREAM_SECONDS`, then closed."""
    data = case.as_transport_kwargs(base_url=base_url, headers=headers_for(caller))
    data.pop("timeout", None)
    if case.path != "/v1/alerts/stream":
        return session.request(**data, timeout=30, allow_redirects=False)
    response = session.request(**data, timeout=(30, STREAM_SECONDS), allow_redirects=False, stream=True)
    got = b""
    try:
        for chunk in response.iter_content(chunk_size=None):
            got += chunk
    except requests.exceptions.ConnectionError:  # the read timed out: the stream is still open
        pass
    finally:
        response.close()
    response._content = got
    return response


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_error_and_every_answer_as_documented(method: str, path: str, api_schema: Any,
                                                        fuzz_service: tuple[Service, Known]) -> None:
    __tracebackhide__ = True
    svc, known = fuzz_service
    operation = api_schema[path][method]
    session = requests.Session()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=cases(operation, known), caller=st.sampled_from(CALLERS))
    def fuzz(case: Any, caller: str) -> None:
        __tracebackhide__ = True
        offset = svc.log.stat().st_size
        response = send(session, case, svc.url, caller)
        try:
            case.validate_response(response, checks=CHECKS_FOR.get(path, CHECKS))
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' report (a curl line), the caller, the log
            if response.status_code >= 500:
                time.sleep(0.5)  # uvicorn writes the traceback after the 500 has been sent
            log = svc.log.read_bytes()[offset:].decode("utf-8", errors="replace")
            log = log if len(log) <= 4000 else f"{log[:800]}\n[...]\n{log[-3000:]}"
            raise AssertionError(f"{exc}\ncaller: {caller} ({headers_for(caller) or 'no Authorization header'})"
                                 f"\nservice log while the request ran:\n{log or '(nothing)'}") from None

    with session:
        fuzz()
