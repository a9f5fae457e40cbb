"""Property tests: random users, groups, collections, grants, retirements and markings.

The oracle below is written out independently of the code under test (plain Python over the
random world), and must agree with what retrieval returns: never a passage from a collection the
user cannot read, and (on the exact plan) every readable passage when k is large enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from documents.models import Collection, Marking
from documents.retrieval import PLAN_EXACT, RetrievalParams, retrieve
from tests.documents.test_retrieval import FAKE, add_document, make_collection

pytestmark = pytest.mark.django_db(transaction=False)

GROUPS = ["HR", "Finance", "Legal", "Estates"]
MARKINGS = [Marking.OFFICIAL.value, Marking.OFFICIAL_SENSITIVE.value]
WORDS = ["leave", "pay", "travel", "pension", "security", "contract"]


@dataclass
class CollectionSpec:
    readers: frozenset[str]
    marking: str
    active: bool
    documents: list[tuple[bool, bool]]  # (document active, chunks searchable)


collection_specs = st.builds(
    CollectionSpec,
    readers=st.frozensets(st.sampled_from(GROUPS), max_size=3),
    marking=st.sampled_from(MARKINGS),
    active=st.booleans(),
    documents=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=3),
)

worlds = st.fixed_dictionaries(
    {
        "collections": st.lists(collection_specs, min_size=1, max_size=5),
        "user_groups": st.frozensets(st.sampled_from(GROUPS), max_size=3),
        "user_active": st.booleans(),
        "deployment_max": st.sampled_from(MARKINGS),
        "caller_max": st.none() | st.sampled_from(MARKINGS),
        "restrict": st.none() | st.lists(st.integers(min_value=0, max_value=5), max_size=3),
        "word": st.sampled_from(WORDS),
        "mode": st.sampled_from(["hybrid", "vector", "keyword"]),
        "plan": st.sampled_from(["exact", "index"]),
    }
)


def expected_readable(world, slugs: list[str]) -> set[str]:
    """The oracle: which collections this user may read, by the rules written out in full."""
    if not world["user_active"]:
        return set()
    ceiling = MARKINGS.index(world["deployment_max"])
    if world["caller_max"] is not None:
        ceiling = min(ceiling, MARKINGS.index(world["caller_max"]))
    readable = set()
    for slug, spec in zip(slugs, world["collections"], strict=True):
        if not spec.active or MARKINGS.index(spec.marking) > ceiling:
            continue
        if not (spec.readers & world["user_groups"]):
            continue
        if world["restrict"] is not None and slug not in {f"c{i}" for i in world["restrict"]}:
            continue
        readable.add(slug)
    return readable


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds)
def test_no_result_ever_comes_from_an_unreadable_collection(world, django_settings):
    """Whatever the grants, retirements and markings, every passage is one the user may read; on the
    exact plan every readable, searchable passage is found when k covers them all."""
    with transaction.atomic():
        django_settings.HUMPHREY_MAX_MARKING = world["deployment_max"]
        for name in GROUPS:
            Group.objects.get_or_create(name=name)
        # No password: hashing one per example would dominate the run time.
        user = get_user_model().objects.create(username="prop", email="prop@example.gov.uk")
        user.groups.set(Group.objects.filter(name__in=world["user_groups"]))
        if not world["user_active"]:
            user.is_active = False
            user.save(update_fields=["is_active"])
        slugs, findable = [], {}
        for i, spec in enumerate(world["collections"]):
            slug = f"c{i}"
            slugs.append(slug)
            collection = make_collection(slug, groups=sorted(spec.readers), marking=spec.marking, active=spec.active)
            for active, searchable in spec.documents:
                texts = [f"{world['word']} guidance part {j} for {slug}" for j in range(2)]
                document = add_document(collection, texts, searchable=searchable and active)
                if not active:
                    document.is_active = False
                    document.save(update_fields=["is_active"])
                elif searchable:
                    findable.setdefault(slug, set()).add(document.pk)

        readable = expected_readable(world, slugs)
        # The gate the chat's question intake uses, one user or many at once, agrees with the oracle.
        gate = expected_readable({**world, "restrict": None, "caller_max": None}, slugs)
        assert set(Collection.objects.readable_by(user).values_list("slug", flat=True)) == gate
        assert Collection.objects.readable_slugs([user]).get(user.pk, set()) == gate
        restrict = None if world["restrict"] is None else [f"c{i}" for i in world["restrict"]]
        if world["plan"] == "index":
            with connection.cursor() as cursor:
                for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                    cursor.execute(f"SET LOCAL {knob} = off")
            params = RetrievalParams(exact_below=1, ef_search=40, vector_depth=100, keyword_depth=100)
        else:
            params = RetrievalParams(vector_depth=100, keyword_depth=100)
        result = retrieve(
            user=user,
            query=f"{world['word']} guidance",
            collections=restrict,
            k=100,
            max_marking=world["caller_max"],
            params=params,
            mode=world["mode"],
            query_vector=FAKE.embed_query(f"{world['word']} guidance"),
        )

        got = {p.collection_slug for p in result.passages}
        assert got <= readable, f"leaked {got - readable}"
        for passage in result.passages:
            assert passage.document_id in findable.get(passage.collection_slug, set())
        if result.plan == PLAN_EXACT or world["mode"] == "keyword":
            expected_documents = set().union(*(findable.get(slug, set()) for slug in readable))
            assert {p.document_id for p in result.passages} == expected_documents
        transaction.set_rollback(True)


@pytest.fixture
def django_settings(settings):
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    return settings
