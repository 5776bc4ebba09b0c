"""Error answers as the OpenAPI schema documents them, and validation errors made safe to send back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: Any = Field(..., description="why: a sentence, or a list of validation errors")


def _doc(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("the body could not be read as JSON text (e.g. not UTF-8)"),
    401: _doc("no key, an unknown key, or an expired key"),
    403: _doc("the key's role is too low (or it may not run drills)"),
    413: _doc("the request body is larger than this route allows"),
    422: _doc("a parameter or the body is out of bounds or of the wrong shape; says which"),
    429: _doc("too many failed sign-ins from this address or key prefix; see Retry-After"),
    503: _doc("Kafka mode: the event bus is unavailable; see Retry-After"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _doc("no such alert or rule")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _doc("the alert is not in a state that allows this"),
                                             504: _doc("Kafka mode: the alert service has not confirmed it yet")}


def _safe(text: Any) -> str:
    return str(text)[:200].encode("utf-8", "replace").decode("utf-8")


def safe_error(error: Any) -> dict[str, Any]:
    """A validation error without its input, its text cut to 200 characters and valid UTF-8.

    >>> safe_error({"type": "string_too_long", "loc": ("body", "by"), "msg": "too long", "input": "x" * 10**6})
    {'type': 'string_too_long', 'loc': ['body', 'by'], 'msg': 'too long'}
    """
    return {"type": _safe(error.get("type", "")), "loc": [e if isinstance(e, int) else _safe(e) for e in
                                                          error.get("loc", ())], "msg": _safe(error.get("msg", ""))}
