"""The YAML config contract: env references, auth variants, defaults, clear errors."""

from __future__ import annotations

import pytest

from orchestration_pkg.core.config import load_config, parse_config
from orchestration_pkg.core.errors import ConfigError, NotFoundError

DOC = """
catalog: sqlite:///catalog.db
integrations:
  - name: acme
    provider: s3
    bucket: acme-private-data
    prefix: raw/
    region: eu-central-1
    endpoint_url: http://127.0.0.1:9000
    default: true
    auth:
      method: access_key
      access_key_id: ${AK}
      secret_access_key: ${SK}
  - name: partner
    provider: s3
    bucket: partner-bucket
    auth:
      method: assume_role
      role_arn: arn:aws:iam::123456789012:role/registrar
      external_id: ${EXT:-fallback-ext}
"""


def test_contract_shape_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("AK", "AKIAEXAMPLE")
    monkeypatch.setenv("SK", "very-secret-key")
    path = tmp_path / "c.yaml"
    path.write_text(DOC, encoding="utf-8")
    cfg = load_config(path)
    acme = cfg.integration()
    assert acme.name == "acme" and acme.prefix == "raw/" and acme.region == "eu-central-1"
    assert acme.auth.secret_access_key.get_secret_value() == "very-secret-key"
    assert "very-secret-key" not in repr(cfg) and "very-secret-key" not in str(cfg)
    partner = cfg.integration("partner")
    assert partner.auth.external_id.get_secret_value() == "fallback-ext"
    assert partner.auth.session_name == "orchestration-pkg"
    with pytest.raises(NotFoundError, match="unknown integration 'nope'"):
        cfg.integration("nope")


def test_env_var_from_config_path_env(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("catalog: sqlite:///x.db\n", encoding="utf-8")
    monkeypatch.setenv("ORCHESTRATION_PKG_CONFIG", str(path))
    assert load_config().catalog == "sqlite:///x.db"


def test_unset_env_is_named(monkeypatch):
    monkeypatch.delenv("AK", raising=False)
    with pytest.raises(ConfigError, match=r"AK is not set \(used at integrations\[0\]"):
        parse_config(
            {
                "integrations": [
                    {
                        "name": "a",
                        "bucket": "b",
                        "auth": {
                            "method": "access_key",
                            "access_key_id": "${AK}",
                            "secret_access_key": "x",
                        },
                    }
                ]
            }
        )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {
                "integrations": [
                    {
                        "name": "a",
                        "bucket": "b",
                        "auth": {
                            "method": "assume_role",
                            "role_arn": "arn:aws:iam::123456789012:role/r",
                        },
                    }
                ]
            },
            "external_id",
        ),
        (
            {
                "integrations": [
                    {
                        "name": "a",
                        "bucket": "b",
                        "auth": {
                            "method": "assume_role",
                            "role_arn": "not-an-arn",
                            "external_id": "e",
                        },
                    }
                ]
            },
            "role_arn",
        ),
        ({"integrations": [{"name": "a", "bucket": "b"}, {"name": "a", "bucket": "c"}]}, "unique"),
        (
            {
                "integrations": [
                    {"name": "a", "bucket": "b", "default": True},
                    {"name": "c", "bucket": "d", "default": True},
                ]
            },
            "at most one",
        ),
        ({"integrations": [{"name": "a", "bucket": "b", "auth": {"method": "magic"}}]}, "auth"),
        ({"integrations": [{"name": "a", "bucket": "b", "colour": "red"}]}, "colour"),
    ],
)
def test_invalid_configs_name_the_field(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)


def test_validation_errors_never_echo_secrets():
    doc = {
        "integrations": [
            {
                "name": "a",
                "bucket": "b",
                "auth": {
                    "method": "access_key",
                    "access_key_id": "AKIDLEAK",
                    "secret_access_key": 12345.5,
                    "extra": "TOPSECRET",
                },
            }
        ]
    }
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert "TOPSECRET" not in str(info.value) and "AKIDLEAK" not in str(info.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("integrations: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("catalog: x\nintegrations:\n  - name: a\n    bucket: s3cr3t: b\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert "at line 4, column 19: mapping values are not allowed here" in message
    assert "s3cr3t" not in message


def test_typos_name_the_field_the_user_wrote_and_suggest_the_right_one():
    with pytest.raises(ConfigError) as info:
        parse_config({"integrations": [{"name": "a", "provider": "s3", "bukcet": "x"}]})
    assert "integrations.0.bukcet: Extra inputs are not permitted (did you mean 'bucket'?)" in (
        str(info.value)
    )
    assert ".s3." not in str(info.value)
    doc = {"name": "a", "bucket": "x", "auth": {"method": "access_key", "access_key_id": "k"}}
    with pytest.raises(ConfigError) as info:
        parse_config({"integrations": [doc]})
    assert str(info.value) == "config: integrations.0.auth.secret_access_key: Field required"


def test_several_integrations_without_default_needs_a_name():
    cfg = parse_config(
        {"integrations": [{"name": "a", "bucket": "bbb"}, {"name": "c", "bucket": "ddd"}]}
    )
    with pytest.raises(NotFoundError, match="--integration"):
        cfg.integration()


def test_provider_shapes_from_the_issue(monkeypatch):
    monkeypatch.setenv("GCS_KEY_FILE", "/keys/sa.json")
    monkeypatch.setenv("AZURE_SAS_TOKEN", "sv=2024-01-01&ss=b&srt=co&sp=rl&se=2030-01-01&sig=x")
    cfg = parse_config(
        {
            "integrations": [
                {
                    "name": "lab-gcs",
                    "provider": "gcs",
                    "bucket": "lab-data",
                    "auth": {"method": "service_account", "key_file": "${GCS_KEY_FILE}"},
                },
                {
                    "name": "hospital",
                    "provider": "azure",
                    "account_url": "https://hospitalstore.blob.core.windows.net",
                    "container": "scans",
                    "auth": {"method": "sas", "sas_token": "${AZURE_SAS_TOKEN}"},
                },
                {
                    "name": "partners",
                    "provider": "direct",
                    "strict_client_only": True,
                    "allow_hosts": ["cdn.partner.example"],
                },
            ]
        }
    )
    assert [i.provider for i in cfg.integrations] == ["gcs", "azure", "direct"]
    assert cfg.integration("lab-gcs").auth.key_file == "/keys/sa.json"
    assert "sig=x" not in repr(cfg.integration("hospital"))
    assert cfg.integration("partners").strict_client_only is True
    with pytest.raises(ConfigError, match="cannot list"):
        parse_config(
            {"integrations": [{"name": "d", "provider": "direct", "manifests": {"prefix": "m/"}}]}
        )
    with pytest.raises(ConfigError, match="sas_token"):
        parse_config(
            {
                "integrations": [
                    {
                        "name": "h",
                        "provider": "azure",
                        "account_url": "x",
                        "container": "c",
                        "auth": {"method": "sas"},
                    }
                ]
            }
        )


def test_unknown_provider_is_one_clear_line():
    doc = {"integrations": [{"name": "a", "provider": "s4", "bucket": "b"}]}
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert str(info.value) == (
        "config: integrations.0.provider: unknown provider 's4' (allowed: s3, gcs, azure, direct)"
    )


def test_registry_drives_the_config_union_without_sdks():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from orchestration_pkg.core.config import parse_config\n"
        "from orchestration_pkg.core.providers.registry import PROVIDERS\n"
        "assert list(PROVIDERS) == ['s3', 'gcs', 'azure', 'direct']\n"
        "parse_config({'integrations': [{'name': 'a', 'bucket': 'b'}]})\n"
        "loaded = [m for m in ('boto3', 'botocore', 'google.cloud.storage', "
        "'azure.storage.blob') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
