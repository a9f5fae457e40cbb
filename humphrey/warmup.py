"""Ready before the first question: load what the first answer would otherwise wait for, then
take everything loaded so far out of the garbage collector's sight.

Called once per web process from ``humphrey.asgi`` (``HUMPHREY_WARM_START``, on by default). The
local embedding model is loaded and run once (seconds, not on a user's question); the chat model
client is built and the personal-data scanning workers started; answers a stopped process left
*streaming* are recorded as failed.
``gc.freeze()`` then moves the tens of thousands of long-lived objects (Django, the model, the
SDKs) to a generation the collector never scans again, so its full collections, which otherwise
pause the event loop for tens of milliseconds under load, stay short.
"""

from __future__ import annotations

import gc
import logging
import time

logger = logging.getLogger(__name__)


def warm_up() -> None:
    from assistant.providers import get_chat_model
    from documents.embeddings import get_embedder
    from documents.local_embedder import LocalMiniLM

    started = time.monotonic()
    try:
        embedder = get_embedder()
        if isinstance(embedder, LocalMiniLM):  # a remote embedder is not called just to warm up
            embedder.embed_query("warm up")
        get_chat_model()
        from assistant.scanning import scan_pool

        scan_pool().start()  # the personal-data scanning workers
    except Exception:  # warming is an optimisation: the first question will report a real fault
        logger.warning("warm start failed; models load on first use", exc_info=True)
    try:  # answers a stopped process left unfinished are recorded as failed, with their audit event
        from assistant.intake import STREAMING_GIVE_UP
        from assistant.services import answers_close_interrupted

        if closed := answers_close_interrupted(older_than=STREAMING_GIVE_UP):
            logger.warning("recorded %s interrupted answer(s) as failed", closed)
    except Exception:
        logger.warning("could not check for interrupted answers", exc_info=True)
    gc.collect()
    gc.freeze()
    logger.info("warm start took %.1f s", time.monotonic() - started)
