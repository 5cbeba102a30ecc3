"""Validate and plan a text, as the editor does (drills/web/views/editor_api.py): anyone
signed in may validate; the plan names hosts, so it needs the author or operator role."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.access import PLAN_REFUSAL, NotAllowed, may_plan
from drills.web.api import serializers as s
from drills.web.api.base import ApiView
from drills.web.views.editor_api import check_playbook

TAG = ["checks"]


def _body(request: Request) -> dict[str, str]:
    body = s.CheckRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


class Validate(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.CheckRequestSerializer,
        responses=s.CheckSerializer,
        summary="Check a playbook text; the plan comes with it for authors and operators",
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        planning = may_plan(request.user)
        check = check_playbook(
            body["content"],
            body["filename"] or "playbook.yaml",
            expected_name=body["playbook"] or None,
            plan=planning,
        )
        if not planning and check.ok:
            check.plan_problems = [PLAN_REFUSAL]
        return Response(s.CheckSerializer(check.to_dict()).data)


class Plan(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.CheckRequestSerializer,
        responses={200: s.CheckSerializer, 422: s.CheckSerializer},
        summary="The dry run against the inventory (author or operator role); 422 when refused",
    )
    def post(self, request: Request) -> Response:
        if not may_plan(request.user):
            raise NotAllowed(PLAN_REFUSAL)
        body = _body(request)
        check = check_playbook(
            body["content"],
            body["filename"] or "playbook.yaml",
            expected_name=body["playbook"] or None,
        )
        code = status.HTTP_200_OK if check.plan is not None else 422
        return Response(s.CheckSerializer(check.to_dict()).data, status=code)
