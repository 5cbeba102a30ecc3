"""Playbooks and their versions: list, read, create (a new playbook, or a new version of one),
and the diff between two versions. The same checks and saving as the editor's pages."""

from __future__ import annotations

import difflib
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from drills.playbook.errors import Issue
from drills.playbook.redaction import redact
from drills.web.access import NoTeam, home_team, visible_playbook
from drills.web.api import serializers as s
from drills.web.api.base import ApiView, need_somewhere, origin
from drills.web.api.error_responses import InvalidDocument
from drills.web.models import Playbook, PlaybookVersion
from drills.web.roles import Action
from drills.web.views.editor import name_refusal
from drills.web.views.editor_api import check_playbook, issue_dict, metadata_name, name_line
from drills.web.views.version_pages import line_diff

TAG = ["playbooks"]


def version_of(playbook: Playbook, number: int) -> PlaybookVersion:
    version = PlaybookVersion.objects.filter(playbook=playbook, number=number).first()
    if version is None:
        raise Http404(f"playbook {playbook.name} has no version {number}")
    return version


def _text(request: Request, serializer: type[s.TextSerializer]) -> dict[str, Any]:
    body = serializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = dict(body.validated_data)
    data["content"] = data["content"].replace("\r\n", "\n")
    data["message"] = data["message"].strip()
    return data


def _saved(playbook: Playbook, version: PlaybookVersion, created: bool) -> Response:
    answer = {
        "playbook": playbook.name,
        "created": created,
        "version": s.VersionSerializer.of(version),
    }
    return Response(
        s.SavedSerializer(answer).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class PlaybookList(ApiView):
    @extend_schema(
        tags=TAG, responses=s.PlaybookSerializer(many=True), summary="Playbooks you may see"
    )
    def get(self, request: Request) -> Response:
        playbooks = Playbook.visible_to(request.user).select_related("team", "owner")
        return Response(
            s.PlaybookSerializer([s.PlaybookSerializer.of(p) for p in playbooks], many=True).data
        )

    @extend_schema(
        tags=TAG,
        request=s.NewPlaybookSerializer,
        responses={201: s.SavedSerializer},
        summary="Create a playbook from its text (author role)",
    )
    def post(self, request: Request) -> Response:
        need_somewhere(request.user, Action.EDIT)
        data = _text(request, s.NewPlaybookSerializer)
        content, filename = data["content"], "new.yaml"
        check = check_playbook(content, filename, plan=False)
        if not check.ok:
            raise InvalidDocument([issue_dict(i) for i in check.issues])
        name = metadata_name(check.playbook)
        refused = name_refusal(name)
        if refused is not None:
            raise InvalidDocument(
                [
                    issue_dict(
                        Issue(
                            filename, name_line(content), 1, refused, "choose another metadata.name"
                        )
                    )
                ]
            )
        owner = str(getattr(check.playbook.metadata, "owner", "") or "")
        try:
            team = home_team(request.user, owner, data["team"])
        except NoTeam as exc:
            raise InvalidDocument(
                [issue_dict(Issue(filename, name_line(content), 1, str(exc)))]
            ) from None
        try:
            with transaction.atomic():
                playbook = Playbook.objects.create(name=name, owner=request.user, team=team)
                version = playbook.save_version(
                    content, request.user, data["message"] or "created", origin=origin(request)
                )
        except IntegrityError:  # made by someone else between the check and the insert
            raise InvalidDocument(
                [
                    issue_dict(
                        Issue(
                            filename,
                            name_line(content),
                            1,
                            f"a playbook named {name!r} already exists",
                        )
                    )
                ]
            ) from None
        return _saved(playbook, version, True)


class PlaybookDetail(ApiView):
    @extend_schema(tags=TAG, responses=s.PlaybookSerializer, summary="One playbook")
    def get(self, request: Request, name: str) -> Response:
        playbook = visible_playbook(request, name)
        return Response(s.PlaybookSerializer(s.PlaybookSerializer.of(playbook)).data)


class VersionList(ApiView):
    @extend_schema(
        tags=TAG,
        responses=s.VersionSerializer(many=True),
        summary="A playbook's versions, newest first",
    )
    def get(self, request: Request, name: str) -> Response:
        playbook = visible_playbook(request, name)
        versions = playbook.versions.select_related("author").order_by("-number")
        return Response(
            s.VersionSerializer([s.VersionSerializer.of(v) for v in versions], many=True).data
        )

    @extend_schema(
        tags=TAG,
        request=s.TextSerializer,
        responses={201: s.SavedSerializer, 200: s.SavedSerializer},
        summary="Save a text as the next version (author role); 200 when it equals the latest",
    )
    def post(self, request: Request, name: str) -> Response:
        playbook = visible_playbook(request, name, Action.EDIT)
        data = _text(request, s.TextSerializer)
        check = check_playbook(
            data["content"], f"{playbook.name}.yaml", expected_name=playbook.name, plan=False
        )
        if not check.ok:
            raise InvalidDocument([issue_dict(i) for i in check.issues])
        before = playbook.latest_version()
        version = playbook.save_version(
            data["content"], request.user, data["message"], origin=origin(request)
        )
        return _saved(playbook, version, before is None or version.pk != before.pk)


class VersionDetail(ApiView):
    @extend_schema(
        tags=TAG, responses=s.VersionDetailSerializer, summary="One version, with its text"
    )
    def get(self, request: Request, name: str, number: int) -> Response:
        version = version_of(visible_playbook(request, name), number)
        answer = {**s.VersionSerializer.of(version), "content": redact(version.content)}
        return Response(s.VersionDetailSerializer(answer).data)


class VersionDiff(ApiView):
    @extend_schema(
        tags=TAG,
        responses=s.DiffSerializer,
        summary="The line diff from version a to version b",
        parameters=[
            OpenApiParameter("a", int, OpenApiParameter.PATH),
            OpenApiParameter("b", int, OpenApiParameter.PATH),
        ],
    )
    def get(self, request: Request, name: str, a: int, b: int) -> Response:
        playbook = visible_playbook(request, name)
        old, new = version_of(playbook, a), version_of(playbook, b)
        # Versions saved before secrets were named may hold a password: compared as shown.
        old_text, new_text = redact(old.content), redact(new.content)
        unified = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{playbook.name} v{a}",
                tofile=f"{playbook.name} v{b}",
            )
        )
        lines = [
            {"kind": r.kind, "old": r.old, "new": r.new, "text": r.text}
            for r in line_diff(old_text, new_text)
        ]
        answer = {"playbook": playbook.name, "a": a, "b": b, "unified": unified, "lines": lines}
        return Response(s.DiffSerializer(answer).data)
