"""Catalog folder names: the one rule, checked by the engine for every job and by the CLI."""

from __future__ import annotations

from orchestration_pkg.core.errors import OrchestrationError

MAX_FOLDER_NAME = 128
FOLDER_NAME_RULE = (
    f"folder names: 1–{MAX_FOLDER_NAME} printable characters, no path separators, no '%', "
    "no control characters, no leading/trailing spaces, not starting with '-'"
)


class FolderNameError(OrchestrationError, ValueError):
    """A folder name that breaks :func:`validate_folder_name`; the message is one line."""


def shown_name(name: str, limit: int = 40) -> str:
    """``name`` quoted for a one-line message: escapes for unprintables, long names shortened."""
    text = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in name
    )
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def _problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if len(name) > MAX_FOLDER_NAME:
        return f"is {len(name)} characters long (at most {MAX_FOLDER_NAME})"
    if name.strip() != name:
        return "must not start or end with whitespace"
    if "/" in name or "\\" in name:
        return "must not contain '/' or '\\'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if name.startswith("-"):
        return "must not start with '-'"
    if "%" in name:
        return "must not contain '%' (no percent-escapes such as %00)"
    bad = next((ch for ch in name if not ch.isprintable()), None)
    if bad is not None:
        code = bad.encode("unicode_escape").decode("ascii")
        return f"must not contain control or invisible characters (found {code})"
    return None


def validate_folder_name(name: str) -> str:
    """Return ``name`` unchanged if it is a valid catalog folder name, else raise.

    The rule (nothing is stripped or normalised; a name is used exactly as given):

    * 1–128 characters (Unicode code points);
    * no leading or trailing whitespace, and not only spaces;
    * only printable characters: letters and digits of any script, punctuation, symbols and the
      ASCII space; no control characters (tab, newline, NUL, ...), no format or invisible
      characters (zero-width or bidirectional marks) and no other kind of space;
    * no path separators ``/`` or ``\\``, and not ``.`` or ``..``;
    * not starting with ``-`` (it would read as a command-line option);
    * no ``%`` at all, so that no name looks percent-encoded (``%00``, ``%2F``) anywhere the
      name ends up in a URL or a path.

    Raises :class:`FolderNameError` with one line such as
    ``folder '../etc': must not contain '/' or '\\' (folder names: ...)``.
    """
    if not isinstance(name, str):
        raise FolderNameError(f"folder name must be text, not {type(name).__name__}")
    problem = _problem(name)
    if problem:
        raise FolderNameError(f"folder {shown_name(name)}: {problem} ({FOLDER_NAME_RULE})")
    return name
