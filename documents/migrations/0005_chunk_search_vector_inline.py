"""Keep each chunk's English tsvector inside its own row too.

With the embedding already in the row (0004), a chunk's row passes PostgreSQL's 2 kB threshold and its
tsvector (about 0.9 kB, and a tsvector hardly compresses) was moved to the side (TOAST) table. The
words channel ranks up to ``HUMPHREY_RETRIEVAL_KEYWORD_SCAN_LIMIT`` matching chunks per question, and
fetching each tsvector back through the TOAST index cost about 6 microseconds a chunk: 600 matches,
3-4 ms of a question at 100,000 chunks (docs/retrieval.md). MAIN keeps it in the row unless the row
would not fit in a page; the table grows by about 40% (196 -> 277 MB at 100,000 chunks) while the TOAST
table shrinks. The text and the codes tsvector, read only for the few chunks returned, still go to the
side. Applies to rows written from now on; older rows move when next written, or all at once with
``VACUUM FULL documents_chunk`` in a maintenance window.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("documents", "0004_chunk_embedding_inline")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE documents_chunk ALTER COLUMN search_vector SET STORAGE MAIN",
            "ALTER TABLE documents_chunk ALTER COLUMN search_vector SET STORAGE EXTENDED",
        )
    ]
