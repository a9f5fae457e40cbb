"""Curators' insights pages: one dashboard per collection, its tables as CSV, every view recorded.

Who may see a dashboard is decided by ``insights.access`` (auditors: every
collection; curators: those they look after). Anyone else gets the same 404 as for a collection
that does not exist, so the page never confirms that one does.
"""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import Role, has_role, mfa_enrolment_for
from audit.actions import Action
from audit.services import audit_record
from documents.access import may_curate_collection
from insights.access import access_collection_insights, insight_collections
from insights.forms import DashboardForm
from insights.selectors import Period
from insights.tables import TABLES, Dashboard


@require_GET
@login_required
@mfa_enrolment_for(Role.CURATOR, Role.AUDITOR)  # a role waiting on MFA: set it up
def index(request: HttpRequest) -> HttpResponse:
    """The collections whose insights the user may see."""
    if not (has_role(request.user, Role.CURATOR) or has_role(request.user, Role.AUDITOR)):
        raise Http404("No such page.")
    collections = insight_collections(request.user).order_by("name", "pk")
    return render(request, "insights/index.html", {"collections": collections})


@require_GET
@login_required
@mfa_enrolment_for(Role.CURATOR, Role.AUDITOR)  # a role waiting on MFA: set it up
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_insights(request.user, slug)
    form = DashboardForm(request.GET)
    subject = f"collection:{collection.slug}"
    if not form.is_valid():
        audit_record(
            action=Action.INSIGHTS_VIEW,
            actor=request.user,
            outcome="invalid",
            subject=subject,
            data={"collection": collection.slug, "errors": sorted(form.errors)},
        )
        context = {"collection": collection, "form": form, "board": None, "periods": _periods(form)}
        return render(request, "insights/dashboard.html", context, status=400)
    period = Period.last(form.days)
    # The curation pages are for the collection's curators; an auditor who is not one gets plain titles.
    curates = may_curate_collection(request.user, collection)
    board = Dashboard(collection, period, link_documents=curates)
    filters = {"collection": collection.slug, "period_days": period.days}
    if form.cleaned_data["format"] == "csv":
        name = form.cleaned_data["table"]
        table = board.table(name)
        audit_record(
            action=Action.INSIGHTS_EXPORT,
            actor=request.user,
            subject=subject,
            data={**filters, "table": name, "format": "csv", "rows": len(table.rows)},
        )
        return _csv(table.csv_rows(), f"{collection.slug}-{name}-{period.days}d-{timezone.localdate():%Y%m%d}.csv")
    tables = {name: board.table(name) for name in TABLES}
    audit_record(action=Action.INSIGHTS_VIEW, actor=request.user, subject=subject, data=filters)
    context = {
        "collection": collection,
        "form": form,
        "board": board,
        "period": period,
        "tables": tables,
        "charts": board.charts(),
        "periods": _periods(form),
        "show_questions": board.show_questions,
        "min_askers": board.min_askers,
        "curates": curates,
    }
    return render(request, "insights/dashboard.html", context)


def _periods(form: DashboardForm) -> int:
    return form.cleaned_data.get("period") if form.is_valid() else None


def _csv(rows: list[list[str]], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        # A cell starting with = + - @ would be run as a formula by a spreadsheet: quote it as text.
        writer.writerow([("'" + value) if value[:1] in ("=", "+", "-", "@") else value for value in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
