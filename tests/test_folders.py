"""The folder-name rule of core/folders.py (the CLI applies it to every folder argument)."""

from __future__ import annotations

import pytest

from orchestration_pkg.core.errors import OrchestrationError
from orchestration_pkg.core.folders import FolderNameError, validate_folder_name


@pytest.mark.parametrize(
    "name",
    ["a", "lake", "Café 2024_v1.2-final (ß)", "数据集", "x" * 128, "a b", "v1.0", "_x", "a-"],
)
def test_valid_names_are_returned_unchanged(name):
    assert validate_folder_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "must not be empty"),
        ("x" * 129, "129 characters long (at most 128)"),
        (" a", "whitespace"),
        ("a\u00a0", "whitespace"),
        ("a/b", "'/'"),
        ("a\\b", "'\\'"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("-rf", "start with '-'"),
        ("50%", "'%'"),
        ("a%2Fb", "'%'"),
        ("a\x00b", "found \\x00"),
        ("a\u200bb", "found \\u200b"),
        ("a\u202eb", "found \\u202e"),
        ("a\nb", "found \\n"),
    ],
)
def test_invalid_names_raise_one_line(name, why):
    with pytest.raises(FolderNameError) as info:
        validate_folder_name(name)
    message = str(info.value)
    assert why in message and "folder names: 1–128 printable characters" in message
    assert "\n" not in message and "\x00" not in message
    assert isinstance(info.value, OrchestrationError) and isinstance(info.value, ValueError)


def test_long_names_are_shortened_in_the_message():
    with pytest.raises(FolderNameError) as info:
        validate_folder_name("y" * 300)
    assert "y" * 40 not in str(info.value) and "…'" in str(info.value)
