"""The dashboard's one form: which period, and (for an export) which table as CSV. GET only."""

from __future__ import annotations

from django import forms

from insights.selectors import DEFAULT_PERIOD, PERIODS
from insights.tables import TABLES

PERIOD_CHOICES = [(str(days), f"Last {days} days") for days in PERIODS]


class DashboardForm(forms.Form):
    period = forms.TypedChoiceField(
        label="Period",
        choices=PERIOD_CHOICES,
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
        error_messages={"invalid_choice": "Choose the last 7, 30 or 90 days"},
    )
    format = forms.ChoiceField(
        choices=[("", "page"), ("html", "page"), ("csv", "CSV")],
        required=False,
        error_messages={"invalid_choice": "Choose a format of html or csv"},
    )
    table = forms.ChoiceField(
        choices=[("", "none")] + [(name, name) for name in TABLES],
        required=False,
        error_messages={"invalid_choice": "Choose a table to export: " + ", ".join(TABLES)},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["period"].widget.attrs["class"] = "govuk-select"

    def clean(self) -> dict:
        data = super().clean()
        if data.get("format") == "csv" and not data.get("table"):
            self.add_error("table", "Choose a table to export: " + ", ".join(TABLES))
        return data

    @property
    def days(self) -> int:
        return self.cleaned_data.get("period") or DEFAULT_PERIOD
