"""``manage.py source_add --collection SLUG URL_OR_PATH... [--kind K] [--every HOURS]``: keep a collection
in sync with web pages, a sitemap, GOV.UK Content API paths or a folder (docs/sources.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from documents.models import Collection, SourceKind
from documents.services.sources import source_add


def guess_kind(locations: list[str]) -> str:
    """The kind a location reads as: a folder path, a GOV.UK path or address, a sitemap, or pages."""
    first = locations[0].strip()
    if first.startswith("/") and not first.startswith("//"):
        return SourceKind.FOLDER
    if first.startswith("govuk:"):
        return SourceKind.GOVUK
    if len(locations) == 1 and first.lower().split("?")[0].endswith((".xml", "/sitemap")):
        return SourceKind.SITEMAP
    return SourceKind.PAGES


class Command(BaseCommand):
    help = (
        "Add a source a collection is kept in sync with: web page addresses, a sitemap (.xml), "
        "GOV.UK paths (govuk:/guidance/...) or a folder under HUMPHREY_SOURCE_ALLOWED_ROOTS. "
        "The worker reads it at once, then every --every hours."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("locations", nargs="+", metavar="URL_OR_PATH")
        parser.add_argument("--collection", required=True, help="slug of the collection")
        parser.add_argument("--kind", choices=SourceKind.values, help="default: guessed from the location")
        parser.add_argument("--every", type=int, metavar="HOURS", help="how often it is read again")
        parser.add_argument(
            "--credential", default="", metavar="NAME", help="sign in with this HUMPHREY_SOURCE_CREDENTIALS entry"
        )

    def handle(self, *args, locations, collection, kind, every, **options) -> None:
        found = Collection.objects.filter(slug=collection).first()
        if found is None:
            raise CommandError(f"No collection with the slug {collection!r}.")
        kind = kind or guess_kind(locations)
        if kind == SourceKind.GOVUK:
            locations = [loc.removeprefix("govuk:") for loc in locations]
        try:
            source = source_add(
                collection=found,
                kind=kind,
                location="\n".join(locations),
                user=None,
                every_hours=every,
                credential=options["credential"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Added source {source.pk} to {found.slug}: {source.get_kind_display()}, {source.summary}, "
            f"read every {source.every_hours} h. Run it now with `manage.py source_sync --source {source.pk}`."
        )
