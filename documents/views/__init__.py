"""Curation screens (``/curate/``) and the read-only passage view that citations open, by screen.

- ``collections``: the list, a collection's page and its status poll, create, edit, readers, retire,
  and trying a question against it;
- ``documents``: uploads, a document's page, its versions, retire and retry;
- ``marking_changes``: approving, rejecting or withdrawing a lowered marking;
- ``sources``: a collection's synced sources: add, status page, change, pause, read now, remove;
- ``passages``: a chunk in its version's text (curators) and a cited passage (readers);
  ``text`` rebuilds the text around a passage for both;
- ``changes``: what changed between two versions of a document (its curators, its readers, and
  whoever an answer quoted the older version to).

Curators see only the collections they look after; anything else is a 404, the same answer as for
something that does not exist. The passage view shows a reader of the chunk's collection its
searchable passages and the passages cited in their own answers, 404 for everything else. Every
door is in ``documents.access``; every write goes through ``documents.services``.
"""
