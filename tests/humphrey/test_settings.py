"""Settings come from the environment; bad values fail fast with a message naming the variable."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with exactly these variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUMPHREY_", "DATABASE_URL"))}
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import humphrey.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


# A URL that fails to connect but parses, so no test here starts a database.
DB = "postgres://nobody@127.0.0.1:1/none"


def test_production_refuses_to_start_without_secret_key():
    """With DEBUG off and no DJANGO_SECRET_KEY, importing settings fails and says why."""
    result = run_settings(DATABASE_URL=DB)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_defaults_to_off():
    """Nothing set but a secret: production mode, answering to no host until told."""
    result = run_settings(DATABASE_URL=DB, DJANGO_SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False []"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
        ({"HUMPHREY_MAX_UPLOAD_MB": "lots"}, "HUMPHREY_MAX_UPLOAD_MB must be a whole number"),
        ({"HUMPHREY_MAX_UPLOAD_MB": "0"}, "HUMPHREY_MAX_UPLOAD_MB must be at least 1"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must be a postgres:// URL"),
        ({"HUMPHREY_MAX_MARKING": "SECRET"}, "HUMPHREY_MAX_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE"),
        (
            {"HUMPHREY_EMBEDDINGS_MAX_MARKING": "SECRET"},
            "HUMPHREY_EMBEDDINGS_MAX_MARKING must be OFFICIAL or OFFICIAL-SENSITIVE",
        ),
        ({"HUMPHREY_REQUIRE_MFA_FOR": "curator,admin"}, "HUMPHREY_REQUIRE_MFA_FOR lists roles among"),
        (
            {"HUMPHREY_SIGNUP_DOMAINS": "example.gov.uk", "HUMPHREY_EMAIL_VERIFICATION": "optional"},
            "HUMPHREY_EMAIL_VERIFICATION must be mandatory",
        ),
        ({"HUMPHREY_OIDC_CLIENT_ID": "abc"}, "HUMPHREY_OIDC_SERVER_URL and HUMPHREY_OIDC_CLIENT_SECRET"),
    ],
)
def test_bad_values_are_named(env, message):
    """Each malformed variable stops start-up with a message that names it."""
    result = run_settings(**{"DATABASE_URL": DB, "DJANGO_SECRET_KEY": "x" * 50, **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_lists_and_hosts_parse():
    """Comma-separated lists ignore blanks and spaces."""
    result = run_settings(DATABASE_URL=DB, DJANGO_SECRET_KEY="x" * 50, DJANGO_ALLOWED_HOSTS=" a.gov.uk, ,b.gov.uk ")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['a.gov.uk', 'b.gov.uk']"


def test_oidc_provider_switched_on_by_settings_alone():
    """Setting the three OIDC variables configures an OpenID Connect provider for allauth."""
    code = (
        "import humphrey.settings as s; app = s.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS'][0]; "
        "print(app['provider_id'], app['settings']['server_url'])"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUMPHREY_"))}
    base.update(
        DATABASE_URL=DB,
        DJANGO_SECRET_KEY="x" * 50,
        HUMPHREY_OIDC_CLIENT_ID="client",
        HUMPHREY_OIDC_CLIENT_SECRET="secret",
        HUMPHREY_OIDC_SERVER_URL="https://login.microsoftonline.com/tenant/v2.0",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sso https://login.microsoftonline.com/tenant/v2.0"


def test_check_deploy_is_clean_in_production():
    """`manage.py check --deploy` reports nothing under production settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUMPHREY_"))}
    base.update(
        DATABASE_URL=DB,
        DJANGO_SECRET_KEY="k3y-" + "Zq9x" * 15,
        DJANGO_ALLOWED_HOSTS="humphrey.example.gov.uk",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
