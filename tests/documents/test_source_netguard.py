"""Where a source may connect (documents.sources.netguard): numeric hosts, DNS answers vetted one by one,
TLS to the vetted address with the certificate checked against the name, the address policy, url_check,
and the fetcher's defaults from settings."""

from __future__ import annotations

import socket
import ssl
import threading

import httpcore
import pytest

from documents.sources import netguard
from documents.sources.net import Fetcher, FetchError, url_check
from tests.documents.source_net_server import PAGE, Server, fails, fetcher


def test_numeric_hosts_are_blocked_by_the_backend_too():
    """Were url_check skipped, the resolver's answer for 2130706433 is still 127.0.0.1, and refused."""
    backend = netguard.GuardedBackend(())
    with pytest.raises(netguard.BlockedAddress):
        backend.resolve("2130706433", 80)


def answers(*addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return getaddrinfo


def test_a_name_with_one_private_answer_is_blocked(monkeypatch):
    monkeypatch.setattr(netguard, "getaddrinfo", answers("93.184.216.34", "10.0.0.7"))
    with fetcher(allowed_networks=[]) as fetch:
        error = fails("blocked_address", fetch, "http://mixed.example/")
        assert fetch.backend.connected == []
    assert "10.0.0.7" in error.message


def test_a_name_that_does_not_resolve(monkeypatch):
    def nowhere(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "getaddrinfo", nowhere)
    with fetcher() as fetch:
        error = fails("dns", fetch, "http://nowhere.example/")
    assert "nowhere.example" in error.message


def test_a_name_that_takes_too_long_to_resolve_is_a_timeout(monkeypatch):
    """The look-up is bounded by the request's time limit: a resolver that answers only after it
    (here with an address that would be refused) is not waited for."""
    release = threading.Event()

    def slow(host, port, *args, **kwargs):
        release.wait(10)
        return answers("10.0.0.7")(host, port)

    monkeypatch.setattr(netguard, "getaddrinfo", slow)
    try:
        with fetcher(timeout=0.3) as fetch:
            error = fails("timeout", fetch, "http://slow-dns.example/")
            assert fetch.backend.connected == []
    finally:
        release.set()
    assert "slow-dns.example" in error.message


def test_tls_connects_to_the_vetted_address_and_verifies_the_name(monkeypatch):
    """The socket goes to the address that was checked; the certificate is checked against the name."""
    monkeypatch.setattr(netguard, "getaddrinfo", answers("93.184.216.34"))
    seen = {}

    class Stream(httpcore.NetworkStream):
        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            seen["server_hostname"] = server_hostname
            raise httpcore.ConnectError("stopped here by the test")

        def close(self):
            pass

    class Inner:
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            seen["connect"] = (host, port)
            return Stream()

    with fetcher(allowed_networks=[]) as fetch:
        fetch.backend._inner = Inner()
        fails("connect", fetch, "https://guidance.example/page")
    assert seen == {"connect": ("93.184.216.34", 443), "server_hostname": "guidance.example"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The same handler over TLS, with a self-signed certificate for the name ``localhost`` only."""
    import datetime

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.cafile = str(folder / "cert.pem")
    yield server, ssl.create_default_context(cafile=server.cafile)
    server.stop.set()
    server.shutdown()
    server.server_close()


def test_https_verifies_the_certificate_against_the_name(tls_server):
    server, trusted = tls_server
    port = server.server_port
    with fetcher(ssl_context=trusted) as fetch:
        assert fetch.get(f"https://localhost:{port}/page").content == PAGE
        assert set(fetch.backend.connected) <= {"127.0.0.1", "::1"}
        error = fails("connect", fetch, f"https://127.0.0.1:{port}/page")  # the certificate names localhost only
    assert "certificate could not be checked" in error.message and "CERTIFICATE_VERIFY_FAILED" in error.cause
    with fetcher() as fetch:  # public CAs only: a self-signed certificate is refused
        fails("connect", fetch, f"https://localhost:{port}/page")


def test_a_ca_bundle_setting_trusts_an_intranets_own_authority(tls_server, settings):
    server, _ = tls_server
    settings.HUMPHREY_SOURCE_CA_BUNDLE = server.cafile
    with fetcher() as fetch:
        assert fetch.get(f"https://localhost:{server.server_port}/page").content == PAGE


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2a00:1450:4009:81f::200e", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8, as DNS64 answers in an IPv6-only network
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
    ],
)
def test_address_policy(address, allowed):
    assert netguard.address_allowed(address) is allowed


def test_allowed_networks_open_exactly_those_ranges():
    inside = netguard.networks_parse(["10.20.0.0/16", "127.0.0.0/8"])
    assert netguard.address_allowed("10.20.3.4", inside)
    assert netguard.address_allowed("::ffff:127.0.0.1", inside)
    assert not netguard.address_allowed("10.21.0.1", inside)
    assert not netguard.address_allowed("169.254.169.254", inside)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "http:///path",
        "http://",
        "",
        "example.com/page",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://[::1/",
    ],
)
def test_url_check_refuses(url):
    with pytest.raises(FetchError) as caught:
        url_check(url)
    assert caught.value.code == "bad_url"


def test_url_check_normalises():
    assert url_check("  HTTPS://GOV.UK/Guidance?a=1#part ") == "https://gov.uk/Guidance?a=1"
    assert url_check("http://bücher.example/") == "http://xn--bcher-kva.example/"


def test_defaults_come_from_settings(settings):
    settings.HUMPHREY_SOURCE_TIMEOUT = 7.0
    settings.HUMPHREY_MAX_UPLOAD_MB = 2
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.HUMPHREY_SOURCE_USER_AGENT = "Someone/2"
    with Fetcher() as fetch:
        assert (fetch.timeout, fetch.max_bytes, fetch.user_agent) == (7.0, 2 * 1024 * 1024, "Someone/2")
        assert netguard.address_allowed("10.9.9.9", fetch.allowed)
