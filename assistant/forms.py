from django import forms

from .models import Rating


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
        error_messages={"max_length": "Keep your comment under 2,000 characters"},
    )
