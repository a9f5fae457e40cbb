from asgiref.sync import async_to_sync
from django import forms

from .core.errors import AnswerError
from .intake import BAD_CHARACTERS
from .models import Rating
from .pii import KIND_LABELS, may_hold_personal_data
from .scanning import personal_data_scan

CONTROL_CHARACTERS = "Remove the invisible characters from your comment: type it again rather than pasting it"
COMMENT_UNCHECKED = (
    "Your comment could not be checked for personal data: shorten it, or remove long runs of numbers and punctuation"
)


def personal_data_error(kinds: list[str]) -> str:
    """The comment's error naming what was found, e.g. "... a National Insurance number and a phone number"."""
    labels = [("an " if KIND_LABELS[k][0] in "aeiou" else "a ") + KIND_LABELS[k] for k in kinds]
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"Remove the personal data from your comment: it seems to include {listed}"


class RenameForm(forms.Form):
    title = forms.CharField(
        label="Conversation name",
        max_length=200,
        error_messages={"required": "Enter a name for the conversation", "max_length": "Keep it under 200 characters"},
    )


class FeedbackForm(forms.Form):
    """A rating and a comment. The comment is read by curators and auditors, never sent to a model: one
    holding personal data is refused, with what was found named and the comment kept in the box to
    edit, rather than stored as typed or stored altered behind the person's back. It is looked for
    as in a question (``assistant.scanning``: the same detectors, in the same worker processes, one
    scan at a time per ``person``, given up after ``HUMPHREY_CHAT_SCAN_TIMEOUT``), whatever
    ``HUMPHREY_CHAT_PERSONAL_DATA`` says, which is about what a model may be sent."""

    rating = forms.ChoiceField(
        label="Was this answer helpful?",
        choices=Rating.choices,
        error_messages={"required": "Choose helpful or not helpful", "invalid_choice": "Choose helpful or not helpful"},
    )
    comment = forms.CharField(
        label="Tell us more (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "max_length": "Keep your comment under 2,000 characters",
            "null_characters_not_allowed": CONTROL_CHARACTERS,  # Django's own check, for NUL alone
        },
    )

    def __init__(self, *args, person: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.person = person  # whose comment it is: their scans wait for each other, not for others'

    def clean_comment(self) -> str:
        # The characters a question may not hold (assistant.intake): nobody can see them, and a
        # database or log may not take them.
        comment = self.cleaned_data["comment"]
        if BAD_CHARACTERS.search(comment):
            raise forms.ValidationError(CONTROL_CHARACTERS, code="control_characters")
        if may_hold_personal_data(comment):
            try:
                found = async_to_sync(personal_data_scan)(comment, person=self.person)
            except AnswerError:
                raise forms.ValidationError(COMMENT_UNCHECKED, code="personal_data_unchecked") from None
            if found:
                kinds = list(dict.fromkeys(f.kind for f in found))  # in the order they appear
                raise forms.ValidationError(personal_data_error(kinds), code="personal_data")
        return comment
