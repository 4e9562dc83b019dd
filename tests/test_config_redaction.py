"""Config errors never repeat a secret: values under ``auth`` are never echoed, anything that
came from a ``${VAR}`` is shown as ``${VAR}``, and pasted-looking values are not shown."""

from __future__ import annotations

import pytest

from orchestration_pkg.core.config import parse_config
from orchestration_pkg.core.errors import ConfigError

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("integration", "where"),
    [
        ({"provider": "${T_SECRET}", "bucket": "b"}, "integrations.0.provider"),
        ({"provider": SECRET, "bucket": "b"}, "integrations.0.provider"),
        ({"provider": "s3", "bucket": "b", "auth": {"method": "${T_SECRET}"}}, "auth.method"),
        ({"provider": "s3", "bucket": "b", "auth": {"method": SECRET}}, "auth.method"),
        ({"provider": "direct", "allow_hosts": ["ok.test", f"{SECRET}/x"]}, "allow_hosts[1]"),
        ({"provider": "direct", "allow_hosts": ["${T_SECRET}/x"]}, "allow_hosts[0]"),
        (
            {"provider": "s3", "bucket": "b", "region": "${T_SECRET}", "max_pool_connections": 0},
            "max_pool_connections",
        ),
    ],
)
def test_config_errors_never_show_a_secret(monkeypatch, integration, where):
    monkeypatch.setenv("T_SECRET", SECRET)
    message = error_of({"integrations": [{"name": "a", **integration}]})
    assert where in message
    assert SECRET not in message and SECRET[:12] not in message


def test_values_from_env_are_shown_as_their_reference(monkeypatch):
    monkeypatch.setenv("T_NAME", SECRET)
    message = error_of(
        {
            "integrations": [
                {"name": "${T_NAME}", "provider": "direct"},
                {"name": "${T_NAME}", "provider": "direct"},
            ]
        }
    )
    assert "repeated: ${T_NAME}" in message and SECRET not in message


def test_a_typo_is_still_named():
    message = error_of({"integrations": [{"name": "a", "provider": "gcp", "bucket": "b"}]})
    assert "unknown provider 'gcp'" in message
