"""SSRF guard: refused addresses never get a connect, allowed ones work, redirects re-checked.

No test resolves a real name (``fake_dns``) or dials anything but 127.0.0.1 (the conftest
socket guard is the backstop; ``socket_connects`` proves refusals happen before any connect).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

import pytest

from orchestration_pkg.core.errors import ConfigError, StorageError
from orchestration_pkg.core.netguard import (
    GuardedHttpClient,
    HttpStatusError,
    NetworkPolicy,
    address_problem,
)

SECRET = "X-Amz-Signature=s3cr3t%2Fsig"


@pytest.fixture(autouse=True)
def _dns(fake_dns: Any) -> Any:
    return fake_dns


def client(*allow: str, **kwargs: Any) -> GuardedHttpClient:
    kwargs.setdefault("retries", 0)
    kwargs.setdefault("backoff_factor", 0)
    kwargs.setdefault("timeout", 5)
    return GuardedHttpClient(NetworkPolicy(list(allow)), **kwargs)


REFUSED = [
    ("http://127.0.0.1/", "127.0.0.1 (loopback)"),
    ("http://localhost/", "127.0.0.1 (loopback)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local; cloud metadata"),
    ("http://10.0.0.1/", "10.0.0.1 (private)"),
    ("http://172.16.0.1/", "172.16.0.1 (private)"),
    ("http://192.168.1.1/", "192.168.1.1 (private)"),
    ("http://100.64.0.1/", "100.64.0.1 (shared address space (CGNAT))"),
    ("http://224.0.0.1/", "224.0.0.1 (multicast)"),
    ("http://240.0.0.1/", "240.0.0.1 (reserved)"),
    ("http://[::1]/", "::1 (loopback)"),
    ("http://[fe80::1]/", "fe80::1 (link-local)"),
    ("http://[fc00::1]/", "fc00::1 (private)"),
    ("http://0.0.0.0/", "0.0.0.0 (unspecified)"),
    ("http://[::]/", ":: (unspecified)"),
    ("http://2130706433/", "127.0.0.1 (loopback)"),
    ("http://0x7f000001/", "127.0.0.1 (loopback)"),
    ("http://127.1/", "127.0.0.1 (loopback)"),
    ("http://0177.0.0.1/", "127.0.0.1 (loopback)"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 (loopback, embedded in IPv6 as 127.0.0.1)"),
    ("http://[::ffff:169.254.169.254]/", "(link-local; cloud metadata service, embedded in IPv6"),
    ("http://[64:ff9b::a9fe:a9fe]/", "embedded in IPv6 as 169.254.169.254"),
    ("https://169.254.169.254:443/", "169.254.169.254 (link-local; cloud metadata"),
]


@pytest.mark.parametrize(("url", "expected"), REFUSED)
def test_non_public_addresses_are_refused_before_any_connect(
    url: str, expected: str, socket_connects: list[Any], http_files: Any
) -> None:
    signed = f"{url}?{SECRET}"
    with pytest.raises(StorageError) as info:
        client().head(signed)
    err = info.value
    assert err.code == "Forbidden" and err.transient is False
    message = str(err)
    assert message.startswith(f"refused {url}: resolves to ")
    assert expected in message
    assert "allow it with allow_hosts if intended" in message
    assert "s3cr3t" not in message and "?" not in message
    assert socket_connects == []
    assert http_files.requests == []


def test_check_url_reports_the_address_and_reason() -> None:
    with pytest.raises(StorageError, match=r"resolves to 169\.254\.169\.254 \(link-local; cloud"):
        NetworkPolicy().check_url("http://169.254.169.254/latest/meta-data/iam/")


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["10.0.0.1"], ["93.184.216.34", "10.0.0.1"]])
def test_a_name_resolving_to_any_internal_address_is_refused(
    fake_dns: Any, socket_connects: list[Any], answer: list[str]
) -> None:
    fake_dns.add("evil.example", *answer)
    with pytest.raises(StorageError, match=r"refused http://evil\.example/x: resolves to") as info:
        client().get_range(f"http://evil.example/x?{SECRET}", 0, 10)
    assert answer[-1] in str(info.value)
    assert socket_connects == []


def test_public_names_pass_the_check_without_connecting(
    fake_dns: Any, socket_connects: list[Any]
) -> None:
    fake_dns.add("cdn.example", "93.184.216.34", "2606:2800:220:1::1")
    targets = NetworkPolicy().check_url(f"https://cdn.example/a/b.jpg?{SECRET}")
    assert [t.address for t in targets] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert all(t.problem is None for t in targets)
    assert targets[0].target == f"/a/b.jpg?{SECRET}"
    assert "s3cr3t" not in repr(targets[0])
    assert socket_connects == []


@pytest.mark.parametrize(
    ("url", "code", "reason"),
    [
        ("file:///etc/passwd", "Forbidden", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:70/_x", "Forbidden", "scheme 'gopher' is not allowed"),
        ("ftp://files.example/x", "Forbidden", "scheme 'ftp' is not allowed"),
        ("//files.example/x", "Forbidden", "not an http(s) URL"),
        ("http://user:pw@files.example/x", "Forbidden", "user name or password"),
        ("http://files.example\\@127.0.0.1/", "InvalidUrl", "'\\\\' is not allowed"),
        ("http://files.example/a b", "InvalidUrl", "encode spaces as %20"),
        ("http://files.example/%zz", "InvalidUrl", "bad percent-escape"),
        ("http://files.example:99999/", "InvalidUrl", "malformed host or port"),
        ("http:///nohost", "InvalidUrl", "no valid host"),
    ],
)
def test_bad_urls_are_refused_without_resolving(
    fake_dns: Any, socket_connects: list[Any], url: str, code: str, reason: str
) -> None:
    with pytest.raises(StorageError) as info:
        NetworkPolicy().check_url(url)
    assert info.value.code == code
    assert reason in str(info.value)
    assert "pw" not in str(info.value)
    assert fake_dns.lookups == [] and socket_connects == []


def test_unresolvable_names_are_network_errors(fake_dns: Any) -> None:
    with pytest.raises(StorageError, match="cannot resolve host nowhere.example") as info:
        NetworkPolicy().check_url(f"http://nowhere.example/x?{SECRET}")
    assert info.value.code == "Network"
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("allow", ["127.0.0.1", "127.0.0.0/8", "::ffff:127.0.0.0/104"])
def test_the_allow_list_opens_the_local_server(http_files: Any, allow: str) -> None:
    url = http_files.add("/data.bin", b"0123456789", "application/x-test")
    guarded = client(allow)
    headers = guarded.head(url)
    assert headers["Content-Length"] == "10" and headers["Content-Type"] == "application/x-test"
    data, headers = guarded.get_range(url, 2, 3)
    assert data == b"234" and headers["Content-Range"] == "bytes 2-4/10"
    with guarded.stream(url) as body:
        assert body.read() == b"0123456789"


def test_ipv4_mapped_literal_is_dialled_as_ipv4(
    http_files: Any, socket_connects: list[Any]
) -> None:
    http_files.add("/m", b"mapped")
    url = f"http://[::ffff:127.0.0.1]:{http_files.port}/m"
    data, _ = client("127.0.0.0/8").get_range(url, 0, 6)
    assert data == b"mapped"
    assert socket_connects == [("127.0.0.1", http_files.port)]


def test_allow_list_entries() -> None:
    policy = NetworkPolicy(["Files.Example.", "*.cdn.test", "10.1.0.0/16", "[fd00::1]"])
    assert policy.allows_name("files.example") and policy.allows_name("FILES.EXAMPLE.")
    assert policy.allows_name("a.b.cdn.test") and not policy.allows_name("cdn.test")
    assert not policy.allows_name("evilfiles.example")
    assert policy.allows_address(ipaddress.ip_address("10.1.2.3"))
    assert policy.allows_address(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert policy.allows_address(ipaddress.ip_address("fd00::1"))
    assert not policy.allows_address(ipaddress.ip_address("10.2.0.1"))
    for bad in ("*", "*.", "files example", "a*.b", ""):
        with pytest.raises(ConfigError, match=r"allow_hosts\[1\]: not a host name"):
            NetworkPolicy(["ok.test", bad])


def test_a_name_entry_never_opens_cloud_metadata(fake_dns: Any, socket_connects: list[Any]) -> None:
    fake_dns.add("files.test", "169.254.169.254")
    with pytest.raises(StorageError, match="never cover cloud metadata") as info:
        client("files.test").head("http://files.test/latest/meta-data/")
    assert info.value.code == "Forbidden"
    assert socket_connects == []


def test_address_problem_public() -> None:
    assert address_problem(ipaddress.ip_address("93.184.216.34")) is None
    assert address_problem(ipaddress.ip_address("2606:2800:220:1::1")) is None


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local; cloud"),
        ("http://10.0.0.1/admin", "10.0.0.1 (private)"),
        ("http://localhost:{port}/data", "::1 (loopback)"),
        ("http://[::1]:{port}/data", "::1 (loopback)"),
        ("http://0x7f000001:{port}/data", None),  # allowed: 127.0.0.1 by address
    ],
)
def test_every_redirect_hop_is_rechecked(
    http_files: Any, socket_connects: list[Any], location: str, expected: str | None
) -> None:
    http_files.add("/data", b"payload")
    url = http_files.redirect("/hop", location.format(port=http_files.port) + "?" + SECRET)
    guarded = client("127.0.0.1")
    if expected is None:
        assert guarded.get_range(url, 0, 7)[0] == b"payload"
        return
    with pytest.raises(StorageError) as info:
        guarded.get_range(url, 0, 7)
    message = str(info.value)
    assert info.value.code == "Forbidden"
    assert message.startswith(f"redirect from {url}: refused ")
    assert expected in message and "s3cr3t" not in message
    assert [m for m, _, _ in http_files.requests] == ["GET"]  # only the redirecting hop
    assert set(socket_connects) == {("127.0.0.1", http_files.port)}


def test_redirects_keep_the_query_and_range(http_files: Any) -> None:
    http_files.add("/final", b"abcdefgh", require_sig="s3cr3t%2Fsig")
    http_files.redirect("/start", "/final?" + SECRET, status=307)
    data, headers = client("127.0.0.1").get_range(http_files.url("/start"), 1, 3)
    assert data == b"bcd" and headers["Content-Range"] == "bytes 1-3/8"
    assert http_files.queries("/final") == [SECRET]
    assert http_files.requests[-1][2]["Range"] == "bytes=1-3"


def test_too_many_redirects(http_files: Any) -> None:
    for a, b in (("/a", "/b"), ("/b", "/c"), ("/c", "/d")):
        http_files.redirect(a, b)
    http_files.add("/d", b"end")
    with pytest.raises(StorageError, match="more than 2 redirect") as info:
        client("127.0.0.1", max_redirects=2).head(http_files.url("/a", SECRET))
    assert info.value.code == "TooManyRedirects" and "s3cr3t" not in str(info.value)
    assert client("127.0.0.1", max_redirects=3).head(http_files.url("/a"))["Content-Length"] == "3"


class _Redirect:
    """A stand-in 302 response (no TLS server is available to the tests)."""

    status = 302
    headers = {"Location": "http://127.0.0.1/x", "Content-Length": "0"}

    def drain_conn(self) -> None: ...

    def release_conn(self) -> None: ...

    def close(self) -> None: ...


def test_https_to_http_downgrade_is_refused(monkeypatch: Any) -> None:
    guarded = client("127.0.0.1")
    monkeypatch.setattr(
        guarded, "_open", lambda method, targets, headers: (_Redirect(), targets[0])
    )
    with pytest.raises(StorageError, match="downgrades https to http") as info:
        guarded.head(f"https://127.0.0.1/r?{SECRET}")
    assert info.value.code == "Forbidden" and "s3cr3t" not in str(info.value)


# -- pinning -------------------------------------------------------------------------------------


def test_dns_rebinding_cannot_move_the_connection(
    http_files: Any, fake_dns: Any, socket_connects: list[Any]
) -> None:
    """The checked address is dialled; the name is resolved once, the Host header kept."""
    http_files.add("/pinned", b"pinned bytes")
    fake_dns.add("files.test", "127.0.0.1", then=["10.0.0.1"])
    url = f"http://files.test:{http_files.port}/pinned?{SECRET}"
    data, _ = client("files.test").get_range(url, 0, 6)
    assert data == b"pinned"
    assert fake_dns.lookups.count("files.test") == 1
    assert socket_connects == [("127.0.0.1", http_files.port)]
    method, target, headers = http_files.requests[-1]
    assert headers["Host"] == f"files.test:{http_files.port}"
    assert target == f"/pinned?{SECRET}"


def test_https_pools_dial_the_ip_but_verify_the_name(fake_dns: Any) -> None:
    fake_dns.add("files.test", "127.0.0.1")
    guarded = client("files.test")
    (target,) = guarded.policy.check_url("https://files.test/object.jpg")
    pool = guarded.pool_for(target)
    assert pool.host == "127.0.0.1" and pool.port == 443
    assert pool.conn_kw["server_hostname"] == "files.test"
    assert pool.assert_hostname == "files.test"
    assert target.host_header == "files.test"


# -- request target, retries, limits, errors -----------------------------------------------------


def test_request_target_is_sent_byte_for_byte(http_files: Any) -> None:
    path = "/dir%2fname+x.bin"
    query = "X-Amz-Signature=ab%2fcd%2B+e~f&list=a,b;c&empty=&x=%7e"
    http_files.add(path, b"raw", require_sig="ab%2fcd%2B+e~f")
    guarded = client("127.0.0.1")
    assert guarded.get_range(http_files.url(path, query), 0, 3)[0] == b"raw"
    assert guarded.head(http_files.url(path, query))["Content-Length"] == "3"
    assert [t for _, t, _ in http_files.requests] == [f"{path}?{query}"] * 2


def test_transient_statuses_are_retried(http_files: Any) -> None:
    url = http_files.add("/flaky", b"ok!")
    http_files.fail("/flaky", 503, 429, retry_after="0")
    assert client("127.0.0.1", retries=2).get_range(url, 0, 3)[0] == b"ok!"
    assert len(http_files.requests) == 3


def test_exhausted_retries_and_server_errors_are_transient(http_files: Any) -> None:
    url = http_files.add("/down", b"x")
    http_files.fail("/down", 503, 503)
    with pytest.raises(HttpStatusError) as info:
        client("127.0.0.1", retries=1).head(url + "?" + SECRET)
    assert (info.value.code, info.value.status, info.value.transient) == ("Throttled", 503, True)
    http_files.fail("/down", 500)
    with pytest.raises(HttpStatusError) as info:
        client("127.0.0.1", retries=1).head(url)
    assert (info.value.code, info.value.transient) == ("ServerError", True)
    assert len(http_files.requests) == 3  # 500 is not retried
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "code"), [(404, "NotFound"), (403, "AccessDenied"), (416, "InvalidRange")]
)
def test_status_codes_map_to_storage_codes(http_files: Any, status: int, code: str) -> None:
    url = http_files.add("/s", b"0123")
    http_files.fail("/s", status)
    with pytest.raises(HttpStatusError) as info:
        client("127.0.0.1").get_range(url + "?" + SECRET, 0, 1)
    assert info.value.code == code and info.value.transient is False
    assert str(info.value).startswith(f"GET {url}: HTTP {status} ")


def test_server_ignoring_range_is_read_only_up_to_the_range(http_files: Any) -> None:
    url = http_files.add("/whole", b"0123456789" * 100, ignore_range=True)
    data, headers = client("127.0.0.1").get_range(url, 5, 4)
    assert data == b"5678" and "Content-Range" not in headers
    assert headers["Content-Length"] == "1000"


def test_body_size_cap(http_files: Any) -> None:
    url = http_files.add("/big", b"x" * 64, ignore_range=True)
    guarded = client("127.0.0.1", max_body_bytes=16)
    with pytest.raises(StorageError, match="exceeds the 16-byte limit") as info:
        guarded.stream(url)
    assert info.value.code == "TooLarge"
    with pytest.raises(StorageError, match="ignores Range; refusing to download 20 bytes"):
        guarded.get_range(url, 10, 10)
    assert guarded.get_range(url, 0, 8)[0] == b"x" * 8


def test_connection_failures_are_transient_network_errors(http_files: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StorageError) as info:
        client("127.0.0.1").head(f"http://127.0.0.1:{port}/x?{SECRET}")
    assert info.value.code == "Network" and info.value.transient is True
    assert "connection to 127.0.0.1:" in str(info.value)
    assert "s3cr3t" not in str(info.value) and info.value.__cause__ is None


def test_no_query_string_in_logs(
    http_files: Any, fake_dns: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http_files.add("/log", b"0123456789", require_sig="s3cr3t%2Fsig")
    http_files.redirect("/hop", "/log?" + SECRET)
    http_files.redirect("/evil", "http://169.254.169.254/?" + SECRET)
    http_files.fail("/log", 503)
    guarded = client("127.0.0.1", retries=1)
    guarded.get_range(http_files.url("/hop", SECRET), 0, 2)
    guarded.head(http_files.url("/log", SECRET))
    for path in ("/evil", "/missing"):
        with pytest.raises(StorageError):
            guarded.head(http_files.url(path, SECRET))
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for record in caplog.records:
        assert "s3cr3t" not in record.getMessage(), record.getMessage()
