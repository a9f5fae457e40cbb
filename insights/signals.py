"""Keep the embedding cache no longer than the question text it was made from."""

from __future__ import annotations


def prune_after_retention_purge(sender, instance, created: bool, **kwargs) -> None:
    """The retention purge records itself last in its transaction: drop the embeddings of purged questions there too.

    One DELETE joined to the content table, inside the purge's own transaction, so the text and
    its embedding go together or not at all.
    """
    from audit.integrity import PURGE_ACTION
    from insights.services import question_embeddings_prune

    if created and instance.action == PURGE_ACTION:
        question_embeddings_prune()
