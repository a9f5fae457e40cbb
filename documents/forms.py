"""Forms for the curation screens (GOV.UK markup lives in the templates)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.models import Group
from django.core import validators

from accounts.roles import ROLE_GROUPS

from .ingest.parse import ACCEPTED_FORMATS, accepted_extensions
from .models import Marking
from .text import invisible_found


class VisibleCharField(forms.CharField):
    """Text a curator types that others will read (a name, a title, a reason): refused, with a field
    error naming the character, when it holds one nobody can see (``documents.text.INVISIBLE``): a
    direction override can make a title read as something else, a zero-width space makes two names
    that look the same differ. ``what`` names the field in the error ("Title")."""

    def __init__(self, *, what: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.what = what
        # Its own check covers NUL too, with a message that says what to do; Django's would say it twice.
        self.validators = [v for v in self.validators if not isinstance(v, validators.ProhibitNullCharactersValidator)]

    def validate(self, value) -> None:
        super().validate(value)
        found = invisible_found(value)
        if found:
            raise forms.ValidationError(
                "%(what)s must not include characters that cannot be seen (it has %(found)s): "
                "type it again rather than pasting it",
                code="invisible",
                params={"what": self.what, "found": found},
            )


def reader_group_choices():
    """Groups that may be granted reading: every group except the role groups (Curators, Auditors)."""
    return Group.objects.exclude(name__in=ROLE_GROUPS.values()).order_by("name")


class CollectionForm(forms.Form):
    name = VisibleCharField(what="Name", max_length=200, label="Name", error_messages={"required": "Enter a name"})
    slug = forms.SlugField(
        max_length=100,
        required=False,
        label="Short name (optional)",
        help_text="Letters, numbers and hyphens; used in addresses and by the ingest command.",
        error_messages={"invalid": "Use only letters, numbers and hyphens in the short name"},
    )
    description = VisibleCharField(
        what="Description", widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description"
    )
    marking = forms.ChoiceField(choices=Marking.choices, initial=Marking.OFFICIAL, label="Security marking")
    reader_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(), required=False, label="Groups who may read it"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reader_groups"].queryset = reader_group_choices()


class Radios(forms.RadioSelect):
    """Radios whose field id is the first option's, so the error summary can link to it (GOV.UK pattern)."""

    def id_for_label(self, id_, index="0"):
        return super().id_for_label(id_, index)


class CollectionEditForm(forms.Form):
    """A collection's name, description and marking (its short name and readers change elsewhere).

    Lowering the marking needs a reason and a confirmation: it lets the collection's passages reach
    model and embedding endpoints approved only for the lower marking, from the next question on."""

    def __init__(self, *args, current_marking: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.current_marking = current_marking

    name = VisibleCharField(
        what="Name",
        max_length=200,
        label="Name",
        error_messages={"required": "Enter a name", "max_length": "Name must be 200 characters or fewer"},
    )
    description = VisibleCharField(
        what="Description", widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description"
    )
    marking = forms.ChoiceField(
        choices=Marking.choices,
        widget=Radios,
        label="Security marking",
        error_messages={
            "required": "Select a security marking",
            "invalid_choice": f"Select a security marking: {' or '.join(Marking.values)}",
        },
    )
    downgrade_reason = VisibleCharField(
        what="The reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        label="Why is the marking being lowered?",
    )
    confirm_downgrade = forms.BooleanField(
        required=False,
        label="I confirm this guidance may be sent to services approved only for the lower marking",
    )
    review_months = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=1200,
        label="Review period in months",
        help_text="A document is due for review this many months after its current version was uploaded, "
        "unless a date is set for it or in its file. 0: no review dates.",
        error_messages={
            "invalid": "Enter the review period as a whole number of months",
            "min_value": "The review period cannot be negative",
            "max_value": "The review period must be 1200 months or fewer",
        },
    )
    expire_after_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=36500,
        label="Stop searching documents this many days after their review date",
        help_text="Leave empty to keep searching overdue documents, shown as due for review.",
        error_messages={
            "invalid": "Enter a whole number of days, or leave it empty",
            "min_value": "The number of days cannot be negative",
            "max_value": "The number of days must be 36500 or fewer",
        },
    )

    @property
    def downgrade_to(self) -> str:
        """The marking that, chosen, lowers the current one and so asks for a reason (the fields are
        revealed under its radio); empty when the current marking is already the lowest. Markings are
        OFFICIAL and OFFICIAL-SENSITIVE, so there is at most one lower."""
        if not self.current_marking or self.current_marking not in Marking.values:
            return ""
        lower = Marking.at_most(self.current_marking)[:-1]
        return lower[-1] if lower else ""

    def lowers_marking(self) -> bool:
        marking = self.cleaned_data.get("marking")
        return bool(self.current_marking and marking and Marking.rank(marking) < Marking.rank(self.current_marking))

    def clean(self):
        cleaned = super().clean()
        if self.lowers_marking():
            if not (cleaned.get("downgrade_reason") or "").strip():
                self.add_error("downgrade_reason", "Say why the marking is being lowered")
            if not cleaned.get("confirm_downgrade"):
                self.add_error("confirm_downgrade", "Confirm that the guidance may be sent at the lower marking")
        return cleaned


class DocumentReviewForm(forms.Form):
    """A document's title, owner and review date: a date of its own, or "use the collection's period"
    (the file's own date first, if it has one). The date is GOV.UK's three-field date input. An empty
    title gives the document back the title in its file."""

    OWN, COLLECTION = "date", "collection"

    title = VisibleCharField(
        what="Title",
        max_length=300,
        required=False,
        label="Title",
        help_text="Leave it empty to use the title in the file, or its file name.",
        error_messages={"max_length": "Title must be 300 characters or fewer"},
    )
    owner_email = forms.EmailField(
        max_length=254,
        label="Owner",
        help_text="A person or a team mailbox: review reminders go here.",
        error_messages={
            "required": "Enter the owner's email address",
            "invalid": "Enter an email address in the correct format, like name@example.gov.uk",
        },
    )
    review_from = forms.ChoiceField(
        choices=[(OWN, "On this date"), (COLLECTION, "Use the file's date or the collection's review period")],
        widget=Radios,
        label="When should it be reviewed?",
        error_messages={"required": "Select when it should be reviewed"},
    )
    review_day = forms.IntegerField(required=False, min_value=1, max_value=31)
    review_month = forms.IntegerField(required=False, min_value=1, max_value=12)
    review_year = forms.IntegerField(required=False, min_value=2000, max_value=2200)

    DATE_PARTS = ("day", "month", "year")
    #: The boxes of the review date an error is about (GOV.UK marks only those).
    date_parts_wrong: tuple[str, ...] = ()

    @property
    def date_errors(self) -> list[str]:
        """The review date's error, whichever of its boxes it is filed under (the first wrong one, which
        the error summary links to)."""
        return [e for part in self.DATE_PARTS for e in self.errors.get(f"review_{part}", [])]

    def _date_error(self, parts, message: str) -> None:
        self.date_parts_wrong = tuple(parts)
        self.add_error(f"review_{parts[0]}", message)

    def clean(self):
        cleaned = super().clean()
        cleaned["review_by"] = None
        # The three boxes are one answer: Django's per-box errors ("Ensure this value is less than or
        # equal to 31") give way to one GOV.UK message about the date, and only when a date is asked for.
        wrong = [part for part in self.DATE_PARTS if self.has_error(f"review_{part}")]
        for part in wrong:
            del self._errors[f"review_{part}"]
        if cleaned.get("review_from") != self.OWN:
            return cleaned
        typed = {part: str(self.data.get(self.add_prefix(f"review_{part}")) or "").strip() for part in self.DATE_PARTS}
        missing = [part for part in self.DATE_PARTS if not typed[part]]
        if len(missing) == len(self.DATE_PARTS):
            self._date_error(self.DATE_PARTS, "Enter the review date")
        elif missing:
            self._date_error(missing, f"Review date must include a {' and '.join(missing)}")
        elif wrong == ["year"] and typed["year"].isdigit():
            self._date_error(wrong, "Review year must be between 2000 and 2200")
        elif wrong:
            self._date_error(wrong, "Review date must be a real date")
        else:
            try:
                cleaned["review_by"] = dt.date(cleaned["review_year"], cleaned["review_month"], cleaned["review_day"])
            except ValueError:  # 31 February: the day is what cannot be
                self._date_error(("day",), "Review date must be a real date")
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>`` (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(d, initial) for d in data]
        if data:
            return [single(data, initial)]
        # Nothing chosen: the field's own check (FileField's runs per file, so never saw an empty list).
        if self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return []


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files", error_messages={"required": "Select one or more files to upload"}, allow_empty_file=True
    )
    # What may be uploaded, from the one list the parser accepts (``documents.ingest.parse.EXTENSIONS``).
    accept = accepted_extensions()
    accepted_formats = ACCEPTED_FORMATS


class VersionUploadForm(forms.Form):
    """One file, uploaded as the next version of the document whose page it is on, whatever its name."""

    file = forms.FileField(
        label="Upload a new version",
        error_messages={
            "required": "Select a file to upload",
            "invalid": "Select a file to upload",
            "missing": "Select a file to upload",
        },
        allow_empty_file=True,  # refused by the upload itself, audited like any other refusal
    )
    accept = accepted_extensions()
    accepted_formats = ACCEPTED_FORMATS


class GrantForm(forms.Form):
    """A group to let read a collection. Given the ``collection``, it offers only groups that cannot read
    it yet; the form that receives a grant takes any reader group, so a grant from a page gone stale is
    answered "already could" rather than "choose a group"."""

    group = forms.ModelChoiceField(
        queryset=Group.objects.none(), label="Group", error_messages={"required": "Choose a group"}
    )

    def __init__(self, *args, collection=None, **kwargs):
        super().__init__(*args, **kwargs)
        groups = reader_group_choices()
        if collection is not None:
            groups = groups.exclude(pk__in=collection.reader_groups.values("pk"))
        self.fields["group"].queryset = groups


class TryQuestionForm(forms.Form):
    q = forms.CharField(
        max_length=2000,
        label="Question",
        error_messages={"required": "Enter a question", "max_length": "Question must be 2,000 characters or fewer"},
    )


class MarkingChangeDecisionForm(forms.Form):
    """A second curator's answer to a request to lower a collection's marking (approve or reject, with
    a note, which rejecting needs), or the requester withdrawing it."""

    APPROVE, REJECT, WITHDRAW = "approve", "reject", "withdraw"

    action = forms.ChoiceField(
        choices=[(APPROVE, "Approve"), (REJECT, "Reject"), (WITHDRAW, "Withdraw")],
        error_messages={
            "required": "Choose approve, reject or withdraw",
            "invalid_choice": "Choose approve, reject or withdraw",
        },
    )
    note = VisibleCharField(
        what="The note",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        label="Note (needed to reject)",
        error_messages={"max_length": "The note must be 2,000 characters or fewer"},
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == self.REJECT and not self.has_error("note") and not cleaned.get("note"):
            self.add_error("note", "Say why the request is rejected")
        return cleaned
