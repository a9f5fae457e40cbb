"""Loaded by pytest (``-p tests.environment``) before Django's settings are read.

Tests run in production mode (DEBUG off) with a throwaway secret, so what is tested is what ships.
Settings left in the shell do not change that: every ``DJANGO_*`` and ``HUMPHREY_*`` variable is
dropped (``DJANGO_DEBUG=1`` exported for ``make run`` would otherwise test development mode), except
the few that say *where* the suite runs rather than *what* it checks (``KEPT``), and so are the
model and cache endpoints. Then the test defaults below are set.
"""

import os
import secrets

# Where the suite runs, not what it checks: the data folder (embedded database), an external
# database, the test database's name (parallel runs), the shared corpus, the retrieval snapshot.
KEPT = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "HUMPHREY_DATA_DIR",
    "HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS",
    "HUMPHREY_TEST_DB_NAME",
    "HUMPHREY_CORPUS_DIR",
    "HUMPHREY_RETRIEVAL_SNAPSHOT",
}
for name in list(os.environ):
    if name.startswith(("DJANGO_", "HUMPHREY_")) and name not in KEPT:
        del os.environ[name]
# Never reach a hosted model, hub or shared cache from a test.
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "REDIS_URL"):
    os.environ.pop(name, None)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

os.environ["DJANGO_SECRET_KEY"] = "test-" + secrets.token_urlsafe(40)
os.environ["DJANGO_DEBUG"] = "0"
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ["HUMPHREY_BEHIND_TLS_PROXY"] = "0"
# Probes check afresh on every hit in tests (their cache has its own test).
os.environ["HUMPHREY_PROBE_CACHE_SECONDS"] = "0"
# Child web processes start serving at once; warming (humphrey/warmup.py) has its own test.
os.environ["HUMPHREY_WARM_START"] = "0"
