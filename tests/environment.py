"""Loaded by pytest (``-p tests.environment``) before Django's settings are read.

Tests run in production mode (DEBUG off) with a throwaway secret, so what is tested is what ships.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", "test-" + secrets.token_urlsafe(40))
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("HUMPHREY_BEHIND_TLS_PROXY", "0")
# Probes check afresh on every hit in tests (their cache has its own test).
os.environ.setdefault("HUMPHREY_PROBE_CACHE_SECONDS", "0")
# Child web processes start serving at once; warming (humphrey/warmup.py) has its own test.
os.environ.setdefault("HUMPHREY_WARM_START", "0")
# Never reach a hosted model or hub from a test.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "REDIS_URL"):
    os.environ.pop(name, None)
