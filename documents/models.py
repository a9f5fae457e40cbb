"""Collections of guidance, their documents, each document's versions, and the chunks we search.

Only the current, ready version of an active document in an active collection is searchable. Chunks
carry ``collection`` and ``searchable`` copied down from above (kept right by the services in
``documents.services`` in the same transaction as the change that moves them), so the retrieval
query filters one table and its indexes instead of joining four.
Older versions and their chunks are kept so a past answer can still show exactly what it quoted.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMENSIONS = 384


class Marking(models.TextChoices):
    """Government Security Classifications handled here, lowest first."""

    OFFICIAL = "OFFICIAL", "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE", "OFFICIAL-SENSITIVE"

    @classmethod
    def rank(cls, marking: str) -> int:
        return [m.value for m in cls].index(marking)

    @classmethod
    def at_most(cls, marking: str) -> list[str]:
        """The markings at or below ``marking``."""
        return [m.value for m in cls][: cls.rank(marking) + 1]


class CollectionQuerySet(models.QuerySet):
    def active(self) -> CollectionQuerySet:
        return self.filter(is_active=True)

    def readable_by(self, user) -> CollectionQuerySet:
        """Active collections one of ``user``'s groups may read, at a marking the deployment allows.

        The one definition of "may read"; retrieval repeats it inside its SQL.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self._readable().filter(reader_groups__user=user).distinct()

    def readable_slugs(self, users) -> dict[int, set[str]]:
        """``readable_by`` for many users in one query: user id -> slugs of the collections they may read."""
        ids = [u.pk for u in users if u is not None and u.is_authenticated and u.is_active]
        out: dict[int, set[str]] = {pk: set() for pk in ids}
        rows = self._readable().filter(reader_groups__user__in=ids).values_list("reader_groups__user", "slug")
        for user_id, slug in rows:
            out[user_id].add(slug)
        return out

    def _readable(self) -> CollectionQuerySet:
        return self.active().filter(marking__in=Marking.at_most(settings.HUMPHREY_MAX_MARKING))

    def curated_by(self, user) -> CollectionQuerySet:
        """Collections ``user`` looks after: as owner or named curator (curator role required)."""
        from accounts.roles import Role, has_role

        if not has_role(user, Role.CURATOR):
            return self.none()
        return self.filter(Q(owner=user) | Q(curators=user)).distinct()


class Collection(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_collections"
    )
    curators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="curated_collections", help_text="Who may maintain it."
    )
    marking = models.CharField(max_length=32, choices=Marking.choices, default=Marking.OFFICIAL)
    reader_groups = models.ManyToManyField(
        Group, blank=True, related_name="readable_collections", help_text="Groups whose members may read it."
    )
    is_active = models.BooleanField(default=True, help_text="Retired collections are never searched.")
    review_months = models.PositiveSmallIntegerField(
        default=12,
        help_text="A document is due for review this many months after its current version was uploaded "
        "(unless a date is set for it or in the file); 0: no review dates.",
    )
    expire_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days past its review date after which an overdue document is no longer searched; empty: never.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GlossaryTerm(models.Model):
    """A word people ask with, and the guidance's own words for it, in one collection's glossary.

    Questions asked of the collection are searched and judged in the guidance's words
    (``documents.glossary``). Curators keep the list; each change is audited."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="glossary")
    phrase = models.CharField(max_length=80, help_text='What people ask with: "memory stick".')
    key = models.CharField(max_length=80, editable=False, help_text="The phrase as compared: lower case, one space.")
    means = models.CharField(max_length=120, help_text='What the guidance calls it: "removable media".')
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["collection", "key"], name="glossary_term_unique_phrase")]

    def __str__(self) -> str:
        return f"{self.phrase} → {self.means}"

    def save(self, *args, **kwargs):
        from .glossary import phrase_key

        self.key = phrase_key(self.phrase)
        super().save(*args, **kwargs)


class DocumentQuerySet(models.QuerySet):
    def active(self) -> DocumentQuerySet:
        return self.filter(is_active=True, collection__is_active=True)

    def never_read(self) -> DocumentQuerySet:
        """Documents that never held content: every upload of them failed (none is queued, being read
        or ready, and none was ever current), so nothing of them was searched or quoted. Those a synced
        source keeps are left out: the source would make them again, and says what is wrong itself."""
        versions = DocumentVersion.objects.filter(document=models.OuterRef("pk"))
        return (
            self.filter(current_version__isnull=True)
            .filter(models.Exists(versions))
            .exclude(models.Exists(versions.exclude(status=VersionStatus.FAILED)))
            .exclude(models.Exists(SourceItem.objects.filter(document=models.OuterRef("pk"))))
        )


class Document(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=300)
    title_set_by_curator = models.BooleanField(
        default=False, help_text="A curator chose the title: a new version's own title does not replace it."
    )
    source_name = models.CharField(
        max_length=255, help_text="The file name as ingested; re-uploading the same name makes a new version."
    )
    current_version = models.OneToOneField(
        "DocumentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    owner_email = models.EmailField(
        blank=True, help_text="Who keeps it true: a person or a team mailbox (review reminders go here)."
    )
    review_by = models.DateField(
        null=True,
        blank=True,
        help_text="Set by a curator or by confirming it still correct; empty: from the file or the collection.",
    )
    review_by_source = models.CharField(
        max_length=16, blank=True, choices=[("curator", "set by a curator"), ("reviewed", "confirmed still correct")]
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, help_text="Last confirmed still correct.")
    origin_url = models.URLField(
        max_length=2000, blank=True, help_text="Where a synced source read it (a web address); empty for uploads."
    )
    attached_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attachments",
        help_text="The email message this file was attached to.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "source_name"], name="document_unique_source_per_collection")
        ]

    def __str__(self) -> str:
        return self.title


class VersionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    EMBEDDING = "embedding", "Embedding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DocumentVersion(models.Model):
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="documents/%Y/%m/", max_length=500)
    original_filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=100, blank=True, help_text="Detected from the content, not the name.")
    emptied_parts = models.JSONField(
        default=list, blank=True, help_text="Embedded objects emptied before the file was stored (their part names)."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.QUEUED)
    error = models.TextField(blank=True)
    error_code = models.CharField(
        max_length=40,
        blank=True,
        help_text="Why it failed, for software: a reader's refusal ('encrypted'), 'embedding_marking', 'internal'.",
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    read_rule = models.PositiveSmallIntegerField(
        default=0,
        help_text="The readers and cut (documents.ingest.chunk.READ_RULE) it was read with; 0: before stamps.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=300, blank=True, help_text="The title parsed from this version.")
    review_by = models.DateField(
        null=True, blank=True, help_text="A review date in the file's own metadata (front matter, DOCX properties)."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker ingesting it (stale means retryable)."
    )

    class Meta:
        ordering = ["document", "-number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="version_unique_number")]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("documents:version", args=[self.pk])

    @property
    def is_current(self) -> bool:
        return self.document.current_version_id == self.pk


class ChunkQuerySet(models.QuerySet):
    def searchable(self) -> ChunkQuerySet:
        """Flagged searchable (current, ready, active, not switched off). An expired document's chunks
        keep the flag: what is searched now is ``searched``."""
        return self.filter(searchable=True)

    def searched(self) -> ChunkQuerySet:
        """What retrieval searches at this moment: searchable, and its document not expired
        (``search_until`` still ahead, by the database's clock). The ORM spelling of the retrieval
        statement's own condition (``documents.retrieval.sql.SEARCHABLE``); pages and counts that say
        what is searched ask this, never a date of their own (tests/documents/
        test_curator_lifecycle_expiry.py holds the two in agreement)."""
        return self.filter(Q(searchable=True), Q(search_until__isnull=True) | Q(search_until__gt=Now()))


class Chunk(models.Model):
    version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="chunks")
    # Copied down from version.document.collection so retrieval filters one table (see module doc).
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="+")
    searchable = models.BooleanField(default=False)
    search_until = models.DateTimeField(
        null=True, blank=True, help_text="When its document expires (past its review date); empty: no expiry."
    )
    excluded_at = models.DateTimeField(null=True, blank=True, help_text="Switched off by a curator: not searched.")
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    excluded_reason = models.TextField(blank=True)
    ordinal = models.PositiveIntegerField(help_text="Position of the chunk in its version.")
    text = models.TextField()
    heading_path = models.CharField(max_length=1000, blank=True, help_text="Headings above it, ' > ' separated.")
    anchor = models.CharField(max_length=200, blank=True, help_text='Where it is, for people: "page 4".')
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    embed_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the text the embedder saw: unchanged chunks are not re-embedded.",
    )
    # Answer units (sentences, whole list items, table rows: documents.ingest.units) as
    # [start, end, kind, context] lists, and one vector per unit (float16, 384 each, packed), made
    # at ingestion so that scoring sentences costs a question no embedding. Empty until embedded.
    units = models.JSONField(default=list, blank=True)
    unit_vectors = models.BinaryField(null=True, blank=True, editable=False)
    units_rule = models.PositiveSmallIntegerField(
        default=0, help_text="The cutting rule (documents.ingest.units.RULE) its units came from; 0: before stamps."
    )
    search_vector = models.GeneratedField(
        expression=SearchVector("heading_path", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    # No stemming, no stop words: keeps codes like "T&S", "MPM A.4", "section 21" searchable.
    search_vector_simple = models.GeneratedField(
        expression=SearchVector("heading_path", weight="A", config="simple")
        + SearchVector("text", weight="B", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = ChunkQuerySet.as_manager()

    class Meta:
        ordering = ["version", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["version", "ordinal"], name="chunk_unique_ordinal")]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=128,  # a denser graph: the recall the default ef_search needs (docs/retrieval.md)
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
            GinIndex(name="chunk_search_simple_gin", fields=["search_vector_simple"]),
            models.Index(name="chunk_searchable_collection", fields=["collection"], condition=Q(searchable=True)),
        ]

    def __str__(self) -> str:
        return f"{self.version} #{self.ordinal}"


class MarkingChangeState(models.TextChoices):
    PENDING = "pending", "waiting for a second curator"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    WITHDRAWN = "withdrawn", "withdrawn"


class MarkingChange(models.Model):
    """A curator's request to lower a collection's marking, which takes effect only when another of its
    curators approves (``HUMPHREY_MARKING_DOWNGRADE_APPROVAL``). Kept after the decision, for the record."""

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="marking_changes")
    from_marking = models.CharField(max_length=32, choices=Marking.choices)
    to_marking = models.CharField(max_length=32, choices=Marking.choices)
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=MarkingChangeState.choices, default=MarkingChangeState.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="The second curator's reason for rejecting, or a note.")

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection"], condition=Q(state="pending"), name="marking_change_one_pending"
            ),
            models.CheckConstraint(
                name="marking_change_decider_is_another_person",
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")) | Q(state="withdrawn"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.collection}: {self.from_marking} -> {self.to_marking} ({self.state})"


class ReviewReminder(models.Model):
    """One day's review reminder to one owner: ``send_review_reminders`` sends at most one a day each."""

    owner_email = models.EmailField()
    sent_on = models.DateField()
    documents = models.JSONField(default=list, help_text="Ids of the documents it listed.")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner_email", "sent_on"], name="review_reminder_once_a_day")]

    def __str__(self) -> str:
        return f"reminder to {self.owner_email} on {self.sent_on}"


# Synced sources live in their own module (documents.sources.models); imported here so Django
# registers them with this app.
from .sources.models import RunOutcome, Source, SourceItem, SourceKind, SourceRun  # noqa: E402, F401
