"""Keep each chunk's embedding inside its own row.

pgvector's type is stored EXTERNAL by default: once a row passes about 2 kB, PostgreSQL moves the 1.5 kB
vector to the side (TOAST) table, and every exact distance (the plan for users who read a small share of
the chunks) fetched it from there: about 4 microseconds a chunk, 6 of the 11 ms such a question took at
100,000 chunks. PLAIN keeps it in the row (a vector does not compress); the text and tsvectors still go
to the side table first. Measured: docs/retrieval.md. Applies to rows written from now on; older rows
move when next written (new versions, re-ingestion, or ``UPDATE documents_chunk SET embedding =
embedding::text::vector`` in a maintenance window). Nothing reads them differently meanwhile.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("documents", "0003_chunk_simple_search_vector")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE documents_chunk ALTER COLUMN embedding SET STORAGE PLAIN",
            "ALTER TABLE documents_chunk ALTER COLUMN embedding SET STORAGE EXTERNAL",
        )
    ]
