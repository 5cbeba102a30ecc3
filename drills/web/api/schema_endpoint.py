"""The API's OpenAPI document (drf-spectacular): every operation also documents the errors it
may answer, as the one error shape, so a client (and schemathesis) can rely on it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from drills.web.api.error_responses import ErrorSerializer

# 401 for everyone without a valid token or session; 403 seen but not allowed; 404 not there
# or not visible; 400 a refused body or query; 409 a state that does not allow it; 413 a body
# too big to read.
ERRORS_READ = (400, 401, 403, 404)
ERRORS_WRITE = (400, 401, 403, 404, 409, 413)


class DrillhallSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        codes = ERRORS_READ if self.method == "GET" else ERRORS_WRITE
        for code in codes:
            if str(code) not in bodies:
                bodies[str(code)] = self._get_response_for_code(
                    ErrorSerializer, str(code), ["application/json"], direction
                )
        return bodies
