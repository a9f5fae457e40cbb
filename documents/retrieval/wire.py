"""How the statement travels: parameters in PostgreSQL's binary format, ``$n`` placeholders, and one
round trip (settings, statement and its transaction in a psycopg pipeline), prepared on the server.

Why each of these (figures in docs/retrieval.md, "What moved them on 2026-11-27"): formatting the
query vector as text, psycopg re-parsing a long statement for placeholders, a second round trip for
the commit and planning the statement afresh each time were each a measurable share of a question.
"""

from __future__ import annotations

import functools
import re
import struct

from django.db import transaction

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=64)
def native_statement(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with PostgreSQL's own ``$n`` placeholders, and the parameter names in order.

    psycopg parses a ``%(name)s`` query for its placeholders on every run unless it is short (its
    cache stops at 4 KB; this statement is several times that): converted once here, it is sent
    through a ``RawCursor`` as it is."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


class BinaryParam:
    """A parameter already in PostgreSQL's binary wire format, sent with an unknown type: the
    statement's cast (``::vector``, ``::text[]``) makes the server read it with that type's own
    receive function. ``value`` is the plain Python value, for a driver without binary parameters."""

    __slots__ = ("data", "value")

    def __init__(self, data: bytes, value) -> None:
        self.data = data
        self.value = value


class BinaryVector(BinaryParam):
    """The query vector in pgvector's binary format (dimensions, unused, big-endian float4s): packed
    in microseconds and read by the server without parsing, where Python's float repr was slow."""

    __slots__ = ()

    def __init__(self, values) -> None:
        if hasattr(values, "astype"):  # numpy
            data = struct.pack(">HH", len(values), 0) + values.astype(">f4", copy=False).tobytes()
        else:
            data = struct.pack(f">HH{len(values)}f", len(values), 0, *values)
        super().__init__(data, None)

    def __str__(self) -> str:  # the text form, for a driver that cannot send binary parameters
        count = struct.unpack_from(">H", self.data)[0]
        return "[" + ",".join(repr(x) for x in struct.unpack_from(f">{count}f", self.data, 4)) + "]"


_ELEMENT_TYPES = {"text": 25, "int8": 20, "float4": 700}


def binary_array(values: list, element: str) -> BinaryParam:
    """A one-dimensional array without NULLs in PostgreSQL's binary format (``array_send``)."""
    parts = [struct.pack(">iiiii", 1, 0, _ELEMENT_TYPES[element], len(values), 1)]
    for value in values:
        if element == "text":
            encoded = value.encode()
            parts.append(struct.pack(">i", len(encoded)) + encoded)
        else:
            parts.append(struct.pack(">iq" if element == "int8" else ">if", 8 if element == "int8" else 4, value))
    return BinaryParam(b"".join(parts), values)


@functools.cache
def _binary_dumper():
    from psycopg import adapt, pq

    class BinaryParamDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = 0  # unknown: the statement's cast decides the type

        def dump(self, obj: BinaryParam) -> bytes:
            return obj.data

    return BinaryParamDumper


def execute_prepared(
    connection, cursor, sql: str, sql_params: dict, *, ef_search: int, iterative: bool, version_sql: str
) -> tuple[list[tuple], str]:
    """Run the statement with its settings, in one round trip where the driver allows (psycopg 3);
    return its rows and ``version_sql``'s value (read in the same round trip, before the statement).

    The settings (``hnsw.ef_search``, and iterative scans where pgvector has them) are ``SET LOCAL``
    in the statement's transaction, so nothing leaks to the next user of a pooled connection, and
    are sent with it in a psycopg pipeline. The statement is server-side prepared and its generic
    plan used from the first run (every choice in it is made at run time), which saves planning it
    for each question.
    """
    settings = ["pg_stat_clear_snapshot()", "set_config('hnsw.ef_search', %s, true)"]
    if iterative:
        settings.append("set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg2
        psycopg = None
    raw = connection.connection
    if psycopg is None or not isinstance(raw, psycopg.Connection):  # pragma: no cover
        with transaction.atomic(using=connection.alias, savepoint=False):
            cursor.execute(f"SELECT {', '.join(settings)}, {version_sql}", [str(int(ef_search))])
            version = cursor.fetchone()[-1]
            plain = {
                name: value.value if isinstance(value, BinaryParam) else value for name, value in sql_params.items()
            }
            plain["vector"] = str(sql_params["vector"]) if sql_params["vector"] is not None else None
            cursor.execute(sql, plain)
            return cursor.fetchall(), version
    # Prepared at once (not after psycopg's threshold) unless prepared statements are off on
    # this connection (HUMPHREY_DB_PREPARE_THRESHOLD=0, for a pooler that cannot keep them).
    prepare = raw.prepare_threshold is not None
    if prepare:
        # The generic plan from the first run: every choice in the statement is made at run time
        # (one-time filters on the parameters), so planning it afresh for each question, which
        # PostgreSQL's cost estimate otherwise always chose, buys nothing.
        settings.append("set_config('plan_cache_mode', 'force_generic_plan', true)")
    statement, names = native_statement(sql)
    values = [sql_params[name] for name in names]
    settings_sql = f"SELECT {', '.join(settings)}, {version_sql}".replace("%s", "$1")
    # Outside a transaction the statement gets its own, opened and committed in the same pipeline
    # (Django's atomic() would commit in a second round trip); inside the caller's, it joins it, as
    # a statement in atomic(savepoint=False) would.
    own_transaction = connection.get_autocommit() and not connection.in_atomic_block
    with (
        connection.wrap_database_errors,
        psycopg.RawCursor(raw) as control_cursor,
        psycopg.RawCursor(raw) as settings_cursor,
        psycopg.RawCursor(raw) as server_cursor,
    ):
        server_cursor.adapters.register_dumper(BinaryParam, _binary_dumper())
        try:
            with raw.pipeline():
                if own_transaction:
                    control_cursor.execute("BEGIN")
                settings_cursor.execute(settings_sql, [str(int(ef_search))])
                server_cursor.execute(statement, values, prepare=prepare)
                if own_transaction:
                    control_cursor.execute("COMMIT")
        except BaseException:
            if own_transaction and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raw.rollback()
            raise
        return server_cursor.fetchall(), settings_cursor.fetchone()[-1]
