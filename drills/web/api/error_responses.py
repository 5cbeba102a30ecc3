"""Every API error is JSON with one sentence, ``{"detail": "..."}``: never a traceback, a repr
or an HTML page. Field errors keep their sentence in ``detail`` and the fields in ``fields``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

log = logging.getLogger(__name__)


class ErrorSerializer(serializers.Serializer):
    """What every refusal and failure of the API answers."""

    detail = serializers.CharField(help_text="What went wrong, as a sentence.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For a request whose fields were refused: each field's problems.",
    )
    issues = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="For a refused playbook or game day text: the parser's issues, with line "
        "and column.",
    )


class InvalidDocument(exceptions.APIException):
    """A playbook (or game day) text the parser refused; ``issues`` says where and why."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, issues: list[dict[str, Any]], what: str = "playbook") -> None:
        first = issues[0] if issues else {}
        where = f" (line {first.get('line')})" if first.get("line") else ""
        count = f"{len(issues)} problem{'s' if len(issues) != 1 else ''}"
        super().__init__(f"the {what} is not valid, {count}: {first.get('message', '')}{where}")
        self.issues = issues


class Conflict(exceptions.APIException):
    """The request came too late or too early: the object is not in a state that allows it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "the object is not in a state that allows this"


class TooBig(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too big for this server (DATA_UPLOAD_MAX_MEMORY_SIZE)"


def _flat(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as {"field.sub": ["sentence", ...]}."""
    if isinstance(detail, dict):
        found: dict[str, list[str]] = {}
        for key, value in detail.items():
            found.update(_flat(value, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(detail, list) and detail and all(not isinstance(d, dict | list) for d in detail):
        return {path or "request": [str(d) for d in detail]}
    if isinstance(detail, list):
        found = {}
        for index, value in enumerate(detail):
            found.update(_flat(value, f"{path}[{index}]"))
        return found
    return {path or "request": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, RequestDataTooBig):
        exc = TooBig()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "you may not do this")
    if isinstance(exc, exceptions.ValidationError):
        fields = _flat(exc.detail)
        sentence = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        return Response({"detail": sentence, "fields": fields}, status=exc.status_code)
    response = drf_handler(exc, context)
    if response is not None:
        detail = getattr(exc, "detail", None)
        response.data = {"detail": str(detail) if detail is not None else str(exc)}
        if isinstance(exc, InvalidDocument):
            response.data["issues"] = exc.issues
        return response
    view = context.get("view")
    log.exception("API request failed in %s", type(view).__name__ if view else "a view")
    return Response(
        {"detail": "the server failed to answer this request; its log has the details"},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
