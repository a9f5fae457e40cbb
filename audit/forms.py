"""The auditors' search form and the subject-access form (GET forms: they change nothing)."""

from __future__ import annotations

import datetime as dt
import unicodedata

from django import forms
from django.conf import settings

from audit.actions import FAMILIES, Action
from audit.selectors import ANSWER_OUTCOMES, QUOTED_AFTER_MODEL_FAILED, AuditFilters

ACTION_CHOICES = [
    (Action.ANSWER.value, "Answers"),
    (Action.FEEDBACK.value, "Feedback"),
    *((f"{family}.*", label) for family, label in FAMILIES.items()),
    ("", "Every kind of event"),
]
OUTCOME_CHOICES = [("", "Any outcome")] + [(o, o.replace("_", " ").capitalize()) for o in ANSWER_OUTCOMES]
OUTCOME_CHOICES += [(QUOTED_AFTER_MODEL_FAILED, "Answered by quoting after the model failed")]
OUTCOME_CHOICES += [("up", "Feedback: helpful"), ("down", "Feedback: not helpful")]
OUTCOME_CHOICES += [("success", "Sign-in: success"), ("failure", "Sign-in: failure")]
FEEDBACK_CHOICES = [("", "Any feedback"), ("up", "Helpful"), ("down", "Not helpful"), ("none", "No feedback")]


class GovukFormMixin:
    """Puts GOV.UK Design System classes on every widget (error variants included)."""

    def govuk_classes(self) -> None:
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.Select):
                css = "govuk-select"
            elif isinstance(widget, forms.DateInput):
                css = "govuk-input govuk-input--width-10"
            else:
                css = "govuk-input"
            described = [f"{self[name].auto_id}_helptext"] if field.help_text else []
            if self.is_bound and name in self.errors:
                css += " govuk-select--error" if isinstance(widget, forms.Select) else " govuk-input--error"
                described.append(f"{self[name].auto_id}-error")  # the inline message (audit/_field.html)
            widget.attrs["class"] = css
            if described:
                widget.attrs["aria-describedby"] = " ".join(described)
            else:
                widget.attrs.pop("aria-describedby", None)

    def full_clean(self) -> None:
        super().full_clean()
        self.govuk_classes()


# ISO is what a browser's date control sends; the day first is how people here write a date in a link.
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"]


class DateInput(forms.DateInput):
    input_type = "date"

    def format_value(self, value):
        # A date control shows only an ISO value and leaves any other blank: a date given in a link as
        # 31/12/2026 would be searched by while the field looked empty.
        if isinstance(value, str):
            for fmt in DATE_FORMATS:
                try:
                    return dt.datetime.strptime(value.strip(), fmt).date().isoformat()
                except ValueError:
                    continue
            return value
        return value.isoformat() if isinstance(value, dt.date) else super().format_value(value)


def _date_field(label: str, which: str) -> forms.DateField:
    # Days are the service's (audit.selectors.audit_time_zone): the zone every time on these pages is
    # shown in, so "from 1 July" never lists an event shown as 30 June.
    return forms.DateField(
        label=label,
        required=False,
        widget=DateInput,
        input_formats=DATE_FORMATS,
        help_text=f"A day runs midnight to midnight, {settings.TIME_ZONE} time, the time zone of every time shown",
        error_messages={"invalid": f"The {which} date must be a real date, for example 31/12/2026"},
    )


class AuditFilterForm(GovukFormMixin, forms.Form):
    action = forms.ChoiceField(label="Kind of event", choices=ACTION_CHOICES, required=False, initial="answer")
    q = forms.CharField(
        label="Words in the question or answer",
        required=False,
        max_length=200,
        help_text='For example: annual leave -sick, or "flexible working"',
    )
    user = forms.EmailField(label="Person (email address)", required=False, max_length=254)
    date_from = _date_field("From (date)", "start")
    date_to = _date_field("To (date, inclusive)", "end")
    collection = forms.SlugField(
        label="Collection (slug)",
        required=False,
        max_length=100,
        help_text="Answers that searched it, and changes to it and reads of it",
    )
    outcome = forms.ChoiceField(label="Outcome", choices=OUTCOME_CHOICES, required=False)
    feedback = forms.ChoiceField(label="Feedback on the answer", choices=FEEDBACK_CHOICES, required=False)
    model = forms.CharField(label="Model name", required=False, max_length=200)
    error_code = forms.CharField(
        label="Error code",
        required=False,
        max_length=64,
        help_text="For example: model_unavailable. Also finds answers quoted after the model failed",
    )

    def __init__(self, data=None, *args, **kwargs):
        # An empty query string means the default search (answers), not "every kind".
        if data is not None and "action" not in data:
            data = data.copy()
            data["action"] = "answer"
        super().__init__(data, *args, **kwargs)
        self.govuk_classes()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date must be the same as or after the start date")
        return cleaned

    def filters(self) -> AuditFilters:
        """The validated filters (call after is_valid())."""
        data = self.cleaned_data
        return AuditFilters(
            action=data.get("action") or "",
            user=(data.get("user") or "").lower(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            collection=data.get("collection") or "",
            outcome=data.get("outcome") or "",
            feedback=data.get("feedback") or "",
            model=(data.get("model") or "").strip(),
            error_code=(data.get("error_code") or "").strip().lower(),
            q=(data.get("q") or "").strip(),
        )


class PersonForm(GovukFormMixin, forms.Form):
    email = forms.EmailField(label="Email address of the person", max_length=254)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.govuk_classes()


#: The largest export the page checks (it is read whole, in the web process); larger ones are checked
#: with ``manage.py verify_export`` on the server.
EXPORT_CHECK_MAX_BYTES = 50 * 1024 * 1024


class ExportFileForm(forms.Form):
    file = forms.FileField(
        label="An export from these pages",
        help_text="The file as it was downloaded: a JSON Lines export, a subject-access records file or a CSV "
        "export, up to 50 MB (larger: manage.py verify_export on the server).",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > EXPORT_CHECK_MAX_BYTES:
            raise forms.ValidationError(
                "The file is larger than 50 MB: check it with manage.py verify_export on the server"
            )
        return upload


class PurposeForm(GovukFormMixin, forms.Form):
    reference = forms.CharField(
        label="Why are you reading the audit trail?",
        min_length=3,
        max_length=120,
        error_messages={
            "required": "Enter a case reference or the reason you are reading",
            "min_length": "Enter at least 3 letters or digits: a case reference or a short reason",
            "max_length": "Enter 120 characters or fewer",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reference"].help_text = (
            "A case reference or a short reason, for example SAR-2026-0114, complaint 4471 or monthly quality "
            "review. It is recorded with everything you read until you sign out, or for "
            f"{settings.HUMPHREY_AUDIT_PURPOSE_HOURS} hours at most."
        )
        self.govuk_classes()

    def clean_reference(self) -> str:
        reference = " ".join(self.cleaned_data["reference"].split())
        if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in reference):
            raise forms.ValidationError("Enter the reason as plain text, without control or invisible characters")
        if sum(c.isalnum() for c in reference) < 3:
            raise forms.ValidationError("Enter at least 3 letters or digits: a case reference or a short reason")
        return reference
