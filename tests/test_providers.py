"""The provider registry and the Storage protocol every provider implements (no network)."""

from __future__ import annotations

import inspect

import pytest

from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.errors import ConfigError, StorageError
from orchestration_pkg.core.providers.registry import PROVIDERS, provider
from orchestration_pkg.core.registration import build_storage
from orchestration_pkg.core.storage import Storage

MINIMAL = {
    "s3": {"bucket": "bkt"},
    "gcs": {"bucket": "bkt", "auth": {"method": "anonymous"}},
    "azure": {
        "account_url": "https://acct.blob.core.windows.net",
        "container": "box",
        "auth": {"method": "account_key", "account_key": "a2V5"},
    },
    "direct": {},
}
PROTOCOL_METHODS = [
    name
    for name, member in inspect.getmembers(Storage, inspect.isfunction)
    if not name.startswith("_")
]


def _storage(name: str) -> Storage:
    doc = {"integrations": [{"name": f"i-{name}", "provider": name, **MINIMAL[name]}]}
    return build_storage(parse_config(doc).integration())


def test_registry_lists_every_provider_once():
    assert list(PROVIDERS) == ["s3", "gcs", "azure", "direct"]
    assert set(MINIMAL) == set(PROVIDERS)
    with pytest.raises(ConfigError, match=r"unknown provider 's4' \(allowed: s3, gcs, azure"):
        provider("s4")


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_every_storage_implements_the_whole_protocol(name: str):
    storage = _storage(name)
    assert isinstance(storage, Storage)
    assert storage.provider == name and storage.name == f"i-{name}"
    assert storage.strict_client_only is False
    for method in PROTOCOL_METHODS:
        assert callable(getattr(storage, method)), method
    assert {"parse_url", "record_key", "setup_guide", "check", "open_stream"} <= set(
        PROTOCOL_METHODS
    )
    assert isinstance(storage.setup_guide(["https://app.example.com"]), dict)


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_resource_class_comes_from_the_registry(name: str):
    resource_class = PROVIDERS[name].resource_class()
    if name == "direct":
        assert resource_class is None
        return
    cfg = parse_config(
        {"integrations": [{"name": "r", "provider": name, **MINIMAL[name]}]}
    ).integration()
    resource = resource_class.from_config(cfg)
    assert resource.to_config().name == "r"
    assert type(resource.get_storage()) is PROVIDERS[name].storage_class()


def test_direct_cannot_list_or_sign():
    storage = _storage("direct")
    with pytest.raises(StorageError) as info:
        list(storage.list())
    assert info.value.code == "Unsupported"
    with pytest.raises(StorageError) as info:
        storage.sign("https://example.com/a")
    assert info.value.code == "Unsupported"


def test_azure_connection_strings_are_read_by_the_sdk():
    from orchestration_pkg.core.providers.azure.clients import connection_string_credentials

    sas = "sv=2020-08-04&ss=b&sig=a%2Bb"
    endpoint = "BlobEndpoint=https://acct.blob.core.windows.net"
    assert connection_string_credentials(f"{endpoint};SharedAccessSignature={sas}") == (None, sas)
    keyed = "AccountName=acct;AccountKey=a2V5;SharedAccessSignature=sv=1&sig=2"
    assert connection_string_credentials(keyed) == (("acct", "a2V5"), None)
    account, key = connection_string_credentials("UseDevelopmentStorage=true")[0] or ("", "")
    assert account == "devstoreaccount1" and key  # Azurite's well-known key, from the SDK
    assert connection_string_credentials("DefaultEndpointsProtocol=http;AccountName=a") == (
        None,
        None,
    )
    assert connection_string_credentials("not a connection string") == (None, None)


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_setup_guide_takes_the_granted_principal_the_same_way_everywhere(name: str):
    storage = _storage(name)
    sig = inspect.signature(storage.setup_guide)
    assert list(sig.parameters) == ["origins", "max_age", "principal"]
    assert sig.parameters["principal"].kind is inspect.Parameter.KEYWORD_ONLY
    shown = {
        "gcs": "serviceAccount:reader@proj.iam.gserviceaccount.com",
        "azure": "00000000-1111-2222-3333-444444444444",
    }
    if name in shown:
        guide = storage.setup_guide(["https://label.example.org"], principal=shown[name])
        assert shown[name] in str(guide)
        assert shown[name] not in str(storage.setup_guide(["https://label.example.org"]))


def test_s3_trust_policy_names_the_principal():
    doc = {
        "integrations": [
            {
                "name": "role",
                "provider": "s3",
                "bucket": "bkt",
                "auth": {
                    "method": "assume_role",
                    "role_arn": "arn:aws:iam::123456789012:role/reader",
                    "external_id": "ext-1",
                },
            }
        ]
    }
    storage = build_storage(parse_config(doc).integration())
    runner = "arn:aws:iam::210987654321:role/dagster-runner"
    guide = storage.setup_guide(["https://label.example.org"], principal=runner)
    assert guide["trust_policy"]["Statement"][0]["Principal"] == {"AWS": runner}


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_location_and_auth_summary_come_from_the_provider_config(name: str):
    cfg = parse_config(
        {"integrations": [{"name": "r", "provider": name, **MINIMAL[name]}]}
    ).integration()
    expected = {
        "s3": ("s3://bkt/", "default"),
        "gcs": ("gs://bkt/", "anonymous"),
        "azure": ("https://acct.blob.core.windows.net/box/", "account_key"),
        "direct": ("(any URL)", "pre-signed / unsigned URLs"),
    }[name]
    assert (cfg.location(), cfg.auth_summary()) == expected
