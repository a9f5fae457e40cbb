from django import forms

from .intake import BAD_CHARACTERS
from .models import Rating

CONTROL_CHARACTERS = "Remove the invisible characters from your comment: type it again rather than pasting it"


class RenameForm(forms.Form):
    title = forms.CharField(
        label="Conversation name",
        max_length=200,
        error_messages={"required": "Enter a name for the conversation", "max_length": "Keep it under 200 characters"},
    )


class FeedbackForm(forms.Form):
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

    def clean_comment(self) -> str:
        # The characters a question may not hold (assistant.intake): nobody can see them, and a
        # database or log may not take them.
        comment = self.cleaned_data["comment"]
        if BAD_CHARACTERS.search(comment):
            raise forms.ValidationError(CONTROL_CHARACTERS, code="control_characters")
        return comment
