"""Direct access storage against a local HTTP server (127.0.0.1 only, no real DNS)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from orchestration_pkg.core.config import DirectIntegrationConfig
from orchestration_pkg.core.errors import StorageError, UrlError
from orchestration_pkg.core.netguard import GuardedHttpClient, NetworkPolicy
from orchestration_pkg.core.providers.direct.storage import DirectStorage
from orchestration_pkg.core.providers.direct.urls import presigned_expiry
from orchestration_pkg.core.storage import Storage

SIG = "abc%2fdef+gh%2B%3D"
AMZ = "%Y%m%dT%H%M%SZ"


@pytest.fixture(autouse=True)
def _dns(fake_dns: Any) -> Any:
    return fake_dns


def amz_query(signed_at: datetime, expires: int = 3600, sig: str = SIG) -> str:
    """A SigV4-shaped query with the odd encodings signers produce (%2F, +, %3D)."""
    return (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date={signed_at.strftime(AMZ)}&X-Amz-Expires={expires}"
        f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
    )


def fresh_query() -> str:
    return amz_query(datetime.now(timezone.utc) - timedelta(minutes=5))


def expired_query() -> str:
    return amz_query(datetime.now(timezone.utc) - timedelta(days=2), expires=600)


def storage(**overrides: Any) -> DirectStorage:
    fields: dict[str, Any] = {"name": "direct", "provider": "direct", "allow_hosts": ["127.0.0.1"]}
    fields.update(overrides)
    policy = NetworkPolicy(fields["allow_hosts"])
    client = GuardedHttpClient(policy, timeout=5, retries=0, backoff_factor=0)
    return DirectStorage(DirectIntegrationConfig(**fields), client=client)


def test_is_a_storage() -> None:
    direct = DirectStorage(DirectIntegrationConfig(name="d", provider="direct"))
    assert isinstance(direct, Storage)
    assert direct.provider == "direct" and direct.strict_client_only is False


# -- URLs ----------------------------------------------------------------------------------------


def test_parse_url_returns_the_url_untouched() -> None:
    url = "https://files.example/a/b%2fc.jpg?" + fresh_query()
    assert storage().parse_url(url) is url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.example/a", "must be http:// or https://"),
        ("s3://bucket/key", "must be http:// or https://"),
        ("https://files.example/a b.jpg", "encode spaces as %20"),
        ("https://files.example/caf\u00e9.jpg", "non-ASCII"),
        ("https://files.example/a%zz", "bad percent-escape"),
        ("https://files.example/a|b", "percent-encode it as %7C"),
        ("https://user:pw@files.example/a", "user name or password"),
        (" https://files.example/a", "whitespace"),
        ("https://files.example:http/a", "malformed host or port"),
        ("", "URL is empty"),
    ],
)
def test_parse_url_rejects(url: str, reason: str) -> None:
    with pytest.raises(UrlError, match=reason.replace("|", r"\|")) as info:
        storage().parse_url(url + "?X-Amz-Signature=s3cr3t" if url else url)
    assert "s3cr3t" not in str(info.value) and "pw" not in str(info.value)


def test_url_prefixes_compare_the_unsigned_url() -> None:
    direct = storage(url_prefixes=["https://files.example", "https://cdn.example/data/"])
    ok = "https://files.example/x.jpg?" + fresh_query()
    assert direct.parse_url(ok) == ok
    assert direct.parse_url("https://cdn.example/data/a.png") == "https://cdn.example/data/a.png"
    for bad in (
        "https://files.example.evil.net/x.jpg",
        "https://cdn.example/other/a.png",
        "http://files.example/x.jpg",
        "https://evil.example/?u=https://files.example/x",
    ):
        with pytest.raises(UrlError, match="not under the integration's url_prefixes"):
            direct.parse_url(bad)


def test_canonical_url_and_record_key_never_hold_the_query() -> None:
    direct = storage()
    url = "https://files.example/a/b.jpg?" + fresh_query() + "#frag"
    assert direct.canonical_url(url) == "https://files.example/a/b.jpg"
    assert direct.record_key(url) == "https://files.example/a/b.jpg"


def test_list_and_sign_are_unsupported() -> None:
    with pytest.raises(StorageError, match="cannot list; supply a manifest") as info:
        list(storage().list())
    assert info.value.code == "Unsupported"
    with pytest.raises(StorageError, match="never signs") as info:
        storage().sign("https://files.example/a.jpg")
    assert info.value.code == "Unsupported"


# -- reads ---------------------------------------------------------------------------------------


def test_presigned_query_passes_through_byte_for_byte(http_files: Any) -> None:
    data = bytes(range(256)) * 4
    query = fresh_query()
    http_files.add("/img%2fa+b.png", data, "image/png", require_sig=SIG)
    url = http_files.url("/img%2fa+b.png", query)
    direct = storage()
    info = direct.head(url)
    assert info.key == http_files.url("/img%2fa+b.png") and info.size == 1024
    assert info.content_type == "image/png" and info.etag and '"' not in info.etag
    assert info.last_modified == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    read = direct.read_range(url, 10, 5)
    assert read.data == data[10:15] and read.info.size == 1024
    with direct.open_stream(url) as body:
        assert body.read() == data
    assert http_files.queries() == [query] * 3
    assert [t for _, t, _ in http_files.requests] == [f"/img%2fa+b.png?{query}"] * 3


def test_head_falls_back_to_a_ranged_get_on_405(http_files: Any) -> None:
    url = http_files.add("/get-only.mp4", b"v" * 300, "video/mp4", head_405=True)
    info = storage().head(url)
    assert info.size == 300 and info.content_type == "video/mp4"
    methods = [(m, h.get("Range")) for m, _, h in http_files.requests]
    assert methods == [("HEAD", None), ("GET", "bytes=0-0")]


def test_head_falls_back_on_403_and_reports_the_get_error(http_files: Any) -> None:
    url = http_files.add("/signed.jpg", b"jpeg", require_sig="right")
    with pytest.raises(StorageError) as info:
        storage().head(url + "?X-Amz-Signature=wrong")
    assert info.value.code == "AccessDenied"
    assert [m for m, _, _ in http_files.requests] == ["HEAD", "GET"]


def test_read_range_when_the_server_ignores_range(http_files: Any) -> None:
    url = http_files.add("/plain.txt", b"abcdefghij", "text/plain", ignore_range=True)
    read = storage().read_range(url, 3, 4)
    assert read.data == b"defg" and read.info.size == 10


def test_read_range_at_the_end_and_past_it(http_files: Any) -> None:
    url = http_files.add("/short", b"12345")
    direct = storage()
    read = direct.read_range(url, 3, 100)
    assert read.data == b"45" and read.info.size == 5
    with pytest.raises(StorageError) as info:
        direct.read_range(url, 5, 1)
    assert info.value.code == "InvalidRange"
    empty = http_files.add("/empty", b"")
    read = direct.read_range(empty, 0, 16)
    assert read.data == b"" and read.info.size == 0


def test_not_found(http_files: Any) -> None:
    url = http_files.url("/missing.jpg", fresh_query())
    with pytest.raises(StorageError) as info:
        storage().read_range(url, 0, 10)
    assert info.value.code == "NotFound" and info.value.transient is False
    assert str(info.value) == f"GET {http_files.url('/missing.jpg')}: HTTP 404 Not Found"


def test_expired_presigned_url_says_so(http_files: Any) -> None:
    http_files.add("/old.jpg", b"x", require_sig="other")
    url = http_files.url("/old.jpg", expired_query())
    with pytest.raises(StorageError) as info:
        storage().read_range(url, 0, 1)
    message = str(info.value)
    assert info.value.code == "AccessDenied"
    assert "the pre-signed URL may have expired (AWS SigV4 pre-signed URL expired at" in message
    assert "abc" not in message and "?" not in message


def test_transient_errors(http_files: Any) -> None:
    url = http_files.add("/busy", b"x")
    direct = storage()
    attempts = direct.retry_policy.max_attempts
    http_files.fail("/busy", *[503] * attempts)
    with pytest.raises(StorageError) as info:
        direct.head(url)
    assert info.value.transient is True
    assert len(http_files.requests) == attempts  # our one policy; urllib3 retries nothing
    http_files.fail("/busy", 503)
    assert direct.head(url).size == 1  # one 503, then served: retried


def test_refused_addresses_never_connect(socket_connects: list[Any], http_files: Any) -> None:
    direct = storage(allow_hosts=[])
    for url in ("http://10.0.0.1/a.jpg", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(StorageError, match="refused") as info:
            direct.head(url + "?" + fresh_query())
        assert info.value.code == "Forbidden"
    with pytest.raises(StorageError, match="resolves to 127.0.0.1 \\(loopback\\)"):
        direct.read_range(http_files.add("/local", b"x"), 0, 1)
    assert socket_connects == [] and http_files.requests == []


# -- strict client-only --------------------------------------------------------------------------


def test_strict_client_only_never_touches_the_network(
    http_files: Any, socket_connects: list[Any], fake_dns: Any
) -> None:
    url = http_files.add("/a.jpg", b"jpeg") + "?" + fresh_query()
    direct = DirectStorage(
        DirectIntegrationConfig(name="s", provider="direct", strict_client_only=True)
    )
    assert direct.strict_client_only is True
    calls = [
        lambda: direct.head(url),
        lambda: direct.read_range(url, 0, 10),
        lambda: direct.open_stream(url),
        lambda: direct.client,
    ]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "StrictClientOnly"
        assert str(info.value).startswith(
            "strict client-only: this integration never fetches; the manifest must carry metadata"
        )
        assert "abc" not in str(info.value)
    rows = direct.check(url)
    assert [r.permission for r in rows] == [
        "url",
        "url policy (SSRF)",
        "HEAD",
        "ranged GET",
        "expiry",
    ]
    assert all(r.ok for r in rows)
    assert "skipped: strict client-only" in rows[2].detail
    assert http_files.requests == [] and socket_connects == [] and fake_dns.lookups == []


# -- check ---------------------------------------------------------------------------------------


def test_check_a_good_url(http_files: Any) -> None:
    http_files.add("/ok.png", b"\x89PNG" + b"\0" * 60, "image/png", require_sig=SIG)
    rows = storage().check(http_files.url("/ok.png", fresh_query()))
    by = {r.permission: r for r in rows}
    assert [r.permission for r in rows] == [
        "url",
        "url policy (SSRF)",
        "HEAD",
        "ranged GET",
        "expiry",
    ]
    assert all(r.ok for r in rows), rows
    assert "127.0.0.1 (loopback; allowed by allow_hosts)" in by["url policy (SSRF)"].detail
    assert by["HEAD"].detail == "64 bytes, image/png (HEAD)"
    assert by["ranged GET"].detail == "read 1 byte(s) of 64"
    assert "AWS SigV4 pre-signed URL expires at" in by["expiry"].detail


def test_check_reports_failures_with_fixes(http_files: Any, socket_connects: list[Any]) -> None:
    rows = storage(allow_hosts=[]).check("http://169.254.169.254/latest/?" + expired_query())
    by = {r.permission: r for r in rows}
    assert not by["url policy (SSRF)"].ok and "allow_hosts" in by["url policy (SSRF)"].fix
    assert by["HEAD"].detail == "not tried: refused by the URL policy"
    assert not by["expiry"].ok and "expired at" in by["expiry"].detail
    assert "fresh pre-signed URL" in by["expiry"].fix
    assert socket_connects == []

    http_files.add("/g.bin", b"0123", head_405=True, ignore_range=True)
    rows = storage().check(http_files.url("/g.bin"))
    by = {r.permission: r for r in rows}
    assert by["HEAD"].ok and "HEAD answered 405; used a 1-byte ranged GET" in by["HEAD"].detail
    assert "the server ignores Range" in by["ranged GET"].detail
    assert by["expiry"].ok and "no expiry" in by["expiry"].detail

    rows = storage().check(http_files.url("/nope"))
    by = {r.permission: r for r in rows}
    assert not by["HEAD"].ok and by["HEAD"].fix.startswith("no object at this URL")

    rows = storage(url_prefixes=["https://cdn.example/"]).check(http_files.url("/g.bin"))
    assert not rows[0].ok and "https://cdn.example/" in rows[0].fix
    assert all(not r.ok and r.detail.startswith("not tried") for r in rows[1:])


def test_check_without_url_passes() -> None:
    rows = storage().check(None)
    assert rows and all(r.ok for r in rows)
    assert any("cannot list" in r.detail for r in rows)


# -- expiry, setup guide, secrets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "scheme", "expires"),
    [
        (
            "X-Amz-Date=20260101T000000Z&X-Amz-Expires=604800&X-Amz-Signature=x",
            "AWS SigV4",
            datetime(2026, 1, 8, tzinfo=timezone.utc),
        ),
        (
            "x-goog-date=20260101T120000Z&x-goog-expires=3600&x-goog-signature=x",
            "GCS V4",
            datetime(2026, 1, 1, 13, tzinfo=timezone.utc),
        ),
        (
            "sv=2023-11-03&se=2026-02-01T00%3A00%3A00Z&sr=b&sp=r&sig=abc%3D",
            "Azure SAS",
            datetime(2026, 2, 1, tzinfo=timezone.utc),
        ),
        (
            "Expires=1767225600&Signature=x~y&Key-Pair-Id=K",
            "CloudFront / legacy signed URL",
            datetime(2026, 1, 1, tzinfo=timezone.utc),
        ),
    ],
)
def test_presigned_expiry(query: str, scheme: str, expires: datetime) -> None:
    expiry = presigned_expiry("https://h.example/a?" + query)
    assert expiry is not None
    assert (expiry.scheme, expiry.expires_at) == (scheme, expires)


def test_presigned_expiry_absent_or_garbled() -> None:
    assert presigned_expiry("https://h.example/a") is None
    assert presigned_expiry("https://h.example/a?X-Amz-Date=soon&X-Amz-Expires=1") is None


def test_setup_guide() -> None:
    guide = storage().setup_guide(["https://app.example"], max_age=600)
    rule = guide["cors"]["rule"]
    assert rule["allowed_methods"] == ["GET", "HEAD"]
    assert {"Content-Range", "Accept-Ranges", "ETag"} <= set(rule["expose_headers"])
    assert rule["allowed_origins"] == ["https://app.example"] and rule["max_age_seconds"] == 600
    assert "7 days" in " ".join(guide["presigning"]["notes"])
    assert {"s3", "gcs", "azure"} <= set(guide["presigning"])
    assert "manifest" not in guide
    strict = DirectStorage(
        DirectIntegrationConfig(name="s", provider="direct", strict_client_only=True)
    ).setup_guide(["https://app.example"])
    required = strict["manifest"]["required_metadata"]
    assert required["image"] == {
        "block": "imageMetadata",
        "fields": ["width", "height", "mimeType", "fileSize"],
    }
    assert "fileSize" in required["video"]["fields"]
    with pytest.raises(ValueError):
        storage().setup_guide([])


def test_no_query_string_in_errors_or_logs(
    http_files: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3tsig%2Fvalue"
    http_files.add("/f.bin", b"0123456789", require_sig=secret, head_405=True)
    http_files.redirect("/to-meta", f"http://169.254.169.254/?X-Amz-Signature={secret}")
    http_files.redirect("/hop", f"/f.bin?X-Amz-Signature={secret}")
    direct = storage()
    signed = f"X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-Signature={secret}"
    good = f"X-Amz-Signature={secret}"
    messages: list[str] = []
    direct.head(http_files.url("/f.bin", good))
    direct.read_range(http_files.url("/hop", good), 0, 4)
    for path, query in (("/f.bin", signed.replace(secret, "bad")), ("/to-meta", good)):
        with pytest.raises(StorageError) as info:
            direct.head(http_files.url(path, query))
        messages.append(str(info.value))
    for path in ("/missing", "/to-meta"):
        with pytest.raises(StorageError) as info:
            direct.read_range(http_files.url(path, signed), 0, 1)
        messages.append(str(info.value))
    with pytest.raises(UrlError) as url_info:
        direct.parse_url(http_files.url("/a b", signed))
    messages.append(str(url_info.value))
    messages += [f"{r.detail} {r.fix}" for r in direct.check(http_files.url("/f.bin", signed))]
    assert caplog.records
    for text in messages + [r.getMessage() for r in caplog.records]:
        assert "s3cr3t" not in text and "X-Amz" not in text, text
