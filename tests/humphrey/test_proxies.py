"""X-Forwarded-For from the attacker's side: entries a client writes never decide its address, for
/metrics, the sign-in rate limit and the audit trail alike; only what our own proxies added counts."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from humphrey.proxies import client_address
from tests.conftest import PASSWORD

PROXY = "172.18.0.5"  # our proxy, on the compose network
TRUSTED = ["172.16.0.0/12"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        (PROXY, "203.0.113.9", "203.0.113.9"),  # the proxy says who the client is
        (PROXY, "10.20.3.4, 203.0.113.9", "203.0.113.9"),  # a spoofed entry left of the proxy's is ignored
        (PROXY, "203.0.113.9, 172.18.0.7", "203.0.113.9"),  # two trusted hops: skip ours, from the right
        ("198.51.100.7", "10.20.3.4", "198.51.100.7"),  # not from our proxy: the header is not read
        (PROXY, "", PROXY),  # no header: the proxy itself
        (PROXY, "not-an-address, 203.0.113.9", "203.0.113.9"),
        (PROXY, "203.0.113.9, garbage", PROXY),  # a malformed hop: keep the last trusted view
        (PROXY, "[2001:db8::1]:443", "2001:db8::1"),
        (PROXY, "203.0.113.9:51000", "203.0.113.9"),
    ],
)
def test_only_entries_our_proxies_added_count(peer, forwarded, expected):
    """The right-most address that is not one of our proxies is the client's."""
    assert client_address(peer, forwarded, TRUSTED) == expected


@pytest.mark.django_db
def test_a_spoofed_header_does_not_open_metrics(client, settings):
    """A client claiming to be in the monitoring network through our proxy is refused; the network
    itself, scraping directly, is let in."""
    settings.HUMPHREY_TRUSTED_PROXIES = TRUSTED
    settings.HUMPHREY_METRICS_NETWORKS = ["10.20.0.0/16"]
    spoofed = client.get("/metrics", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.20.3.4, 203.0.113.9")
    assert spoofed.status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    # The proxy itself is not the monitoring network either.
    assert client.get("/metrics", REMOTE_ADDR=PROXY).status_code == 403


@pytest.mark.django_db
def test_the_sign_in_rate_limit_counts_the_real_client_whatever_it_claims(client, settings, make_user):
    """Failed sign-ins each claiming another address, through our proxy, are counted against the one
    real client: the sixth within five minutes is refused even with the right password, and the audit
    trail records the real address."""
    settings.HUMPHREY_TRUSTED_PROXIES = TRUSTED
    make_user("casey@example.gov.uk")
    for n in range(5):
        client.post(
            "/accounts/login/",
            {"login": f"nobody{n}@example.gov.uk", "password": "wrong"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 203.0.113.9",
        )
    response = client.post(
        "/accounts/login/",
        {"login": "casey@example.gov.uk", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="10.0.0.99, 203.0.113.9",
    )
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    failures = AuditEvent.objects.filter(action__startswith="auth.").exclude(data__ip="")
    assert failures.exists() and {e.data["ip"] for e in failures} == {"203.0.113.9"}
