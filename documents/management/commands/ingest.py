"""``manage.py ingest PATH... --collection SLUG [--create] [--wait]``: load files into a collection."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from documents import services
from documents.ingest.parse import ACCEPTED_FORMATS, EXTENSIONS
from documents.models import Collection, VersionStatus
from documents.retrieval import planner_statistics_refresh


@dataclass
class Summary:
    ingested: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0


def unsupported(path: Path) -> str:
    accepted = ", ".join(sorted(EXTENSIONS))
    return f"unsupported type {path.suffix.lower() or '(no extension)'} (accepted: {accepted})"


def collect(paths: list[str]) -> tuple[list[Path], list[str], list[tuple[str, str]]]:
    """Files to upload, paths not found, and what was left out with the reason: files of a type we
    cannot read, and hidden files and folders under a named folder (a hidden folder once, not each
    file in it). A file named directly is taken even if hidden; its type is still checked."""
    files: list[Path] = []
    missing: list[str] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pending = [path]
            while pending:
                folder = pending.pop()
                for entry in sorted(folder.iterdir()):
                    if entry.name.startswith("."):
                        skipped.append((f"{entry}/" if entry.is_dir() else str(entry), "hidden"))
                    elif entry.is_dir():
                        pending.append(entry)
                    elif not entry.is_file():
                        skipped.append((str(entry), "not a regular file"))
                    elif entry.suffix.lower() not in EXTENSIONS:
                        skipped.append((str(entry), unsupported(entry)))
                    else:
                        files.append(entry)
        elif path.is_file():
            if path.suffix.lower() in EXTENSIONS:
                files.append(path)
            else:
                skipped.append((raw, unsupported(path)))
        else:
            missing.append(raw)
    return sorted(files), missing, sorted(skipped)


def collect_files(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files named directly, plus files with an accepted extension found under named folders."""
    files, missing, _ = collect(paths)
    return files, missing


def ingest_files(files: list[Path], *, collection: Collection, user, wait: bool, progress=None, label=None) -> Summary:
    """Upload each file (and with ``wait`` ingest it here); one bad file never stops the rest."""
    summary = Summary()
    for path in files:
        name = label(path) if label else str(path)
        try:
            size = path.stat().st_size
            if size > settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024:  # not read into memory at all
                summary.skipped.append(
                    (
                        name,
                        f"too big: {size / (1024 * 1024):.1f} MB, "
                        f"the most we accept is {settings.HUMPHREY_MAX_UPLOAD_MB} MB (HUMPHREY_MAX_UPLOAD_MB)",
                    )
                )
                if progress is not None:
                    progress(name)
                continue
            data = path.read_bytes()
            version = services.document_upload(
                collection=collection, filename=path.name, data=data, user=user, enqueue=not wait
            )
            if version.duplicate and version.status != VersionStatus.FAILED:
                summary.unchanged.append(name)
            elif version.status == VersionStatus.FAILED and not version.duplicate:
                summary.failed.append((name, version.error))
            elif version.duplicate:
                summary.failed.append((name, f"unchanged since a failed upload: {version.error}"))
            elif wait:
                outcome = services.version_ingest(version.pk)
                if outcome.status == VersionStatus.READY:
                    summary.ingested.append(name)
                    summary.chunks += outcome.chunks
                else:
                    summary.failed.append((name, outcome.error or f"left {outcome.status}"))
            else:
                summary.queued.append(name)
        except (OSError, ValidationError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            summary.failed.append((name, reason))
        if progress is not None:
            progress(name)
    if summary.ingested:
        planner_statistics_refresh()  # rank the new chunks' words on statistics that know them
    return summary


class Command(BaseCommand):
    help = (
        f"Ingest files and folders into a collection. Folders are walked for {ACCEPTED_FORMATS} files. "
        "Without --wait the files are queued for the task worker; with it they are ingested here. "
        "Every file is reported: ingested (or queued), unchanged, failed (with the reason) or skipped (with the "
        "reason: unsupported type, hidden, too big). Exits non-zero if any file failed, or with --strict was skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="files or folders")
        parser.add_argument("--collection", required=True, help="the collection's slug")
        parser.add_argument("--create", action="store_true", help="create the collection if it does not exist")
        parser.add_argument("--name", default="", help="name for a collection made by --create")
        parser.add_argument(
            "--group", action="append", default=[], help="reader group for a collection made by --create (repeatable)"
        )
        parser.add_argument("--wait", action="store_true", help="ingest here and wait, instead of queueing")
        parser.add_argument("--user", default="", help="email of the curator to record as uploader")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--strict", action="store_true", help="a skipped file (unsupported type, hidden, too big) is an error"
        )

    def handle(self, *args, paths, collection, create, name, group, wait, user, no_progress, strict, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(email__iexact=user).first()
            if actor is None:
                raise CommandError(f"No user with the email {user!r}.")
        target = Collection.objects.filter(slug=collection).first()
        if target is None:
            if not create:
                raise CommandError(f"No collection {collection!r}. Pass --create to make it.")
            groups = [Group.objects.get_or_create(name=g)[0] for g in group]
            try:
                target = services.collection_create(
                    user=actor,
                    name=name or collection.replace("-", " ").capitalize(),
                    slug=collection,
                    reader_groups=groups,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self.stdout.write(f"Created collection {target.slug!r}.")
        if not target.is_active:
            raise CommandError(f"The collection {collection!r} is retired.")
        files, missing, skipped = collect(paths)
        for raw in missing:
            self.stderr.write(f"Not found: {raw}")
        progress = None
        bar = None
        if not no_progress and files:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", file=sys.stderr, disable=None)

            def progress(_name: str) -> None:
                bar.update(1)

        try:
            summary = ingest_files(files, collection=target, user=actor, wait=wait, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        for raw in missing:
            summary.failed.append((raw, "not found"))
        summary.skipped = sorted(skipped + summary.skipped)
        parts = [f"ingested {len(summary.ingested)}"]
        if summary.queued:
            parts.append(f"queued {len(summary.queued)}")
        parts += [
            f"unchanged {len(summary.unchanged)}",
            f"failed {len(summary.failed)}",
            f"skipped {len(summary.skipped)}",
        ]
        self.stdout.write(f"{target.slug}: " + ", ".join(parts) + (f" ({summary.chunks} chunks)" if wait else ""))
        listed = (("ingested", summary.ingested), ("queued", summary.queued), ("unchanged", summary.unchanged))
        for label, names in listed:
            for file_name in names:
                self.stdout.write(f"  {label}: {file_name}")
        for file_name, reason in summary.failed:
            self.stdout.write(f"  failed: {file_name}: {reason}")
        for file_name, reason in summary.skipped:
            self.stdout.write(f"  skipped: {file_name}: {reason}")
        if summary.failed:
            raise CommandError(f"{len(summary.failed)} file(s) failed.", returncode=1)
        if strict and summary.skipped:
            raise CommandError(f"{len(summary.skipped)} file(s) skipped (--strict).", returncode=1)
