"""The operations command that grants (and revokes) a group's read access to a collection."""

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from documents.models import Collection

pytestmark = pytest.mark.django_db


def test_grant_and_revoke_are_applied_and_audited(curator, capsys):
    """grant gives the group read access and records who did it; --revoke takes it away."""
    collection = Collection.objects.create(name="HR", slug="hr")
    call_command("grant", "hr", "HR partners", "--create-group", "--by", curator.email)
    assert list(collection.reader_groups.values_list("name", flat=True)) == ["HR partners"]
    event = AuditEvent.objects.filter(action="curation.collection_grant").get()
    assert event.actor_id == curator.pk
    call_command("grant", "hr", "HR partners", "--revoke")
    assert not collection.reader_groups.exists()
    assert AuditEvent.objects.filter(action="curation.collection_revoke").count() == 1
    assert "can now read 'hr'" in capsys.readouterr().out


def test_unknown_collection_or_group_is_a_clear_error():
    """Typos fail with a message naming what was not found, and change nothing."""
    Collection.objects.create(name="HR", slug="hr")
    with pytest.raises(CommandError, match="No collection with the slug 'nope'"):
        call_command("grant", "nope", "All staff")
    with pytest.raises(CommandError, match="No group named 'Nobody'"):
        call_command("grant", "hr", "Nobody")
    assert not AuditEvent.objects.filter(action__startswith="curation.").exists()
