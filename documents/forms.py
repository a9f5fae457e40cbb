"""Forms for the curation screens (GOV.UK markup lives in the templates)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import Group

from accounts.roles import ROLE_GROUPS

from .models import Marking


def reader_group_choices():
    """Groups that may be granted reading: every group except the role groups (Curators, Auditors)."""
    return Group.objects.exclude(name__in=ROLE_GROUPS.values()).order_by("name")


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name", error_messages={"required": "Enter a name"})
    slug = forms.SlugField(
        max_length=100,
        required=False,
        label="Short name (optional)",
        help_text="Letters, numbers and hyphens; used in addresses and by the ingest command.",
        error_messages={"invalid": "Use only letters, numbers and hyphens in the short name"},
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")
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

    name = forms.CharField(
        max_length=200,
        label="Name",
        error_messages={"required": "Enter a name", "max_length": "Name must be 200 characters or fewer"},
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")
    marking = forms.ChoiceField(
        choices=Marking.choices,
        widget=Radios,
        label="Security marking",
        error_messages={
            "required": "Select a security marking",
            "invalid_choice": f"Select a security marking: {' or '.join(Marking.values)}",
        },
    )
    downgrade_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        label="Why is the marking being lowered?",
    )
    confirm_downgrade = forms.BooleanField(
        required=False,
        label="I confirm this guidance may be sent to services approved only for the lower marking",
    )

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


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>`` (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files", error_messages={"required": "Choose one or more files to upload"}, allow_empty_file=True
    )


class GrantForm(forms.Form):
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(), label="Group", error_messages={"required": "Choose a group"}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = reader_group_choices()


class TryQuestionForm(forms.Form):
    q = forms.CharField(max_length=2000, label="Question", error_messages={"required": "Enter a question"})
