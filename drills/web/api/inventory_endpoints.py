"""The inventory, read only: the hosts drills may target. It is what a plan shows, so it is
shown to whoever may plan (author or operator in some team, or an admin); it is changed in
the admin site and by agent registration, never here."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.access import PLAN_REFUSAL, NotAllowed, may_plan
from drills.web.api import serializers as s
from drills.web.api.base import ApiView
from drills.web.models import Host

TAG = ["inventory"]


def _may_read(request: Request) -> None:
    if not may_plan(request.user):
        raise NotAllowed(PLAN_REFUSAL.replace("Plans show", "The inventory is what plans show"))


class HostList(ApiView):
    @extend_schema(tags=TAG, responses=s.HostSerializer(many=True), summary="The hosts")
    def get(self, request: Request) -> Response:
        _may_read(request)
        hosts = Host.objects.prefetch_related("services").order_by("name")
        return Response(s.HostSerializer([s.HostSerializer.of(h) for h in hosts], many=True).data)


class HostDetail(ApiView):
    @extend_schema(tags=TAG, responses=s.HostSerializer, summary="One host")
    def get(self, request: Request, host: str) -> Response:
        _may_read(request)
        found = Host.objects.prefetch_related("services").filter(name=host).first()
        if found is None:
            raise Http404(f"no host named {host} in the inventory")
        return Response(s.HostSerializer(s.HostSerializer.of(found)).data)
