"""Sources a collection is kept in sync with, what each one holds, and each run over it.

A ``Source`` names where guidance lives outside Humphrey: web pages, a sitemap, GOV.UK Content API
paths or a folder on a mounted share. Each run (``documents.sources.sync``) reads it again; every
page or file it holds is a ``SourceItem`` tied to the ``Document`` it became, so a changed page is a
new version of the same document, an unchanged one costs nothing (its ETag, Last-Modified and
SHA-256 are kept here), and one that has gone is retired once it has stayed gone for the grace
period. Each run leaves a ``SourceRun``: what changed and what failed, for the source's status page.

Defined here and imported by ``documents.models``, so they belong to the documents app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class SourceKind(models.TextChoices):
    PAGES = "pages", "Web pages"
    SITEMAP = "sitemap", "Sitemap"
    GOVUK = "govuk", "GOV.UK Content API"
    FOLDER = "folder", "Folder"


class RunOutcome(models.TextChoices):
    OK = "ok", "synced"
    PARTIAL = "partial", "synced, with errors"
    FAILED = "failed", "failed: nothing changed"


class Source(models.Model):
    collection = models.ForeignKey("documents.Collection", on_delete=models.PROTECT, related_name="sources")
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    location = models.TextField(
        help_text="The page addresses (one a line), the sitemap's address, the GOV.UK paths (one a line) or the folder."
    )
    every_hours = models.PositiveIntegerField(default=24, help_text="How often it is read again.")
    credential = models.CharField(
        max_length=100,
        blank=True,
        help_text="The name of the credential it signs in with (HUMPHREY_SOURCE_CREDENTIALS); never the secret.",
    )
    is_active = models.BooleanField(default=True, help_text="A paused source is not read on its schedule.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, choices=RunOutcome.choices, blank=True)
    last_error = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    #: Which queued task owns the next run: a task whose token is no longer this one exits at once,
    #: so re-scheduling (a manual run, a new interval) never leaves two schedules running.
    schedule_token = models.CharField(max_length=64, blank=True)
    running_since = models.DateTimeField(null=True, blank=True, help_text="A run in progress started then.")

    class Meta:
        ordering = ["collection", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"

    def get_absolute_url(self) -> str:
        return reverse("documents:source", args=[self.collection.slug, self.pk])

    @property
    def summary(self) -> str:
        lines = [line for line in self.location.splitlines() if line.strip()]
        first = lines[0].strip() if lines else ""
        return first if len(lines) <= 1 else f"{first} and {len(lines) - 1} more"


class SourceItem(models.Model):
    """One page or file of a source, and the document it became."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=2000, help_text="Its address, or its path inside the folder.")
    document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="source_items"
    )
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    #: A folder file's size and modification time: unchanged, it is not read at all.
    stamp = models.CharField(max_length=100, blank=True)
    children = models.JSONField(
        default=dict, blank=True, help_text="GOV.UK: the paths its content lists, for a run finding it unchanged."
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    missing_since = models.DateTimeField(null=True, blank=True, help_text="Gone from the source since then.")
    retired_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["source", "key"]
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="source_item_unique_key")]

    def __str__(self) -> str:
        return self.key


class SourceRun(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=16, help_text="schedule, curator or command")
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, blank=True)
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    retired = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole run failed (the collection was left as it was).")
    #: What happened to each page or file that did not simply stay the same, in order: a list of
    #: {"key", "what" (added, changed, missing, back, retired, error), "detail", "document_id", "version"}.
    changes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"run of {self.source_id} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def reached_items(self) -> bool:
        """Whether the run got as far as the source's pages or files: one that failed before (the
        source itself could not be read) has no counts worth showing, not a row of noughts."""
        return any((self.added, self.changed, self.unchanged, self.missing, self.retired, self.failed))
