"""Prometheus metrics: what the service is doing, never what anybody asked.

Counters and histograms are module-level and process-local (each ASGI process is scraped on its
own, as Prometheus expects); ingestion queue depth is read from the database at scrape time, so it
is right whichever process answers.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from accounts.roles import has_staff_role

ANSWERS = Counter("humphrey_answers_total", "Answers finished, by outcome", ["outcome"])
TIME_TO_FIRST_TOKEN = Histogram(
    "humphrey_time_to_first_token_seconds",
    "From question accepted to first answer text sent",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
RETRIEVAL_SECONDS = Histogram(
    "humphrey_retrieval_seconds",
    "Hybrid retrieval time (embedding and SQL)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
)
MODEL_FALLBACKS = Counter(
    "humphrey_model_fallbacks_total",
    "Answers that quoted the guidance because the language model failed before its first word, by error code",
    ["code"],
)
TOKENS = Counter("humphrey_tokens_total", "Model tokens, by model and kind (prompt/completion)", ["model", "kind"])
INGESTION_FAILURES = Counter("humphrey_ingestion_failures_total", "Document versions that failed to ingest", ["code"])


class IngestionQueueCollector:
    """Versions waiting or in progress, by status, read at scrape time."""

    def collect(self):
        from django.db.models import Count

        from documents.models import DocumentVersion

        family = GaugeMetricFamily(
            "humphrey_ingestion_queue_depth", "Document versions not yet ready, by status", labels=["status"]
        )
        try:
            counts = dict(
                DocumentVersion.objects.filter(status__in=["queued", "parsing", "embedding", "failed"])
                .values_list("status")
                .annotate(n=Count("id"))
                .values_list("status", "n")
            )
        except Exception:  # a scrape must not fail because the database blinked
            return
        for status in ("queued", "parsing", "embedding", "failed"):
            family.add_metric([status], counts.get(status, 0))
        yield family


_registered = False


def _register_collectors() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(IngestionQueueCollector())
        _registered = True


def monitoring_client(request: HttpRequest) -> bool:
    """Staff, or a client in ``HUMPHREY_METRICS_NETWORKS``: may see metrics and probe details."""
    if has_staff_role(request.user):  # is_staff, with the MFA staff need (accounts/roles.py)
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.HUMPHREY_METRICS_NETWORKS)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for staff or clients in ``HUMPHREY_METRICS_NETWORKS`` only."""
    if not monitoring_client(request):
        raise PermissionDenied("Metrics are for staff and the monitoring network only.")
    _register_collectors()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
