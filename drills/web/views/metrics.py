"""/metrics for Prometheus: refused with a sentence unless the address and token allow it
(drills/web/metrics/scrape_access.py), else every metric as read now."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from drills.web.metrics import scrape_access
from drills.web.metrics.exposition import exposition


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refused = scrape_access.refusal(request)
    if refused is not None:
        response = HttpResponse(
            refused.sentence + "\n", status=refused.status, content_type="text/plain; charset=utf-8"
        )
        if refused.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="drillhall metrics"'
        return response
    # The text format every Prometheus since 2.0 reads (all names here are plain ASCII).
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
