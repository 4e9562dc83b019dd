"""Encord image groups / image sequences and DICOM series, rebuilt from their member rows.

Registering an Encord ``image_groups`` or ``dicom_series`` item gives one catalog row per URL,
with the group's ``title`` and the URL's position in ``clientMetadata`` (``group_title``,
``group_index``; ``group_create_video`` for an image sequence). An export puts them back
together as ``{"title", "objectUrl_0", "objectUrl_1", …, "clientMetadata"}`` items.

A group's members need not be neighbours in key order, so they are spooled to a temporary
SQLite file (stdlib ``sqlite3``: an on-disk sort with an index, no extra dependency) and read
back grouped and ordered at the end: memory stays flat however many groups a folder holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import Any

GROUP_FIELDS = ("group_title", "group_index", "group_create_video")
# catalog media kind → Encord group list
GROUP_LISTS = {"image_group": "image_groups", "dicom_series": "dicom_series"}


def group_title(client_metadata: dict[str, Any]) -> str | None:
    """The group a member row belongs to (None: a row registered outside a group)."""
    title = client_metadata.get("group_title")
    return title if isinstance(title, str) and title else None


class GroupSpool:
    """Member rows in, one Encord group item per (list, title) out, members by position."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="encord-groups-", suffix=".db")
        os.close(handle)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(
            "CREATE TABLE m (list TEXT, title TEXT, pos INTEGER, id INTEGER, url TEXT, meta TEXT)"
        )
        self.count = 0

    def add(self, list_name: str, row_id: int, url: str, client_metadata: dict[str, Any]) -> None:
        index = client_metadata.get("group_index")
        pos = index if isinstance(index, int) and not isinstance(index, bool) else 1 << 62
        self.db.execute(
            "INSERT INTO m VALUES (?, ?, ?, ?, ?, ?)",
            (
                list_name,
                group_title(client_metadata),
                pos,
                row_id,
                url,
                json.dumps(client_metadata, ensure_ascii=False),
            ),
        )
        self.count += 1

    def groups(self, list_name: str) -> Iterator[dict[str, Any]]:
        """The items of one list, in title order; each group's URLs in position order (then
        row id, for two members claiming the same position)."""
        if self.count == 0:
            return
        self.db.execute("CREATE INDEX IF NOT EXISTS ix_m ON m (list, title, pos, id)")
        rows = self.db.execute(
            "SELECT title, url, meta FROM m WHERE list = ? ORDER BY title, pos, id", (list_name,)
        )
        current: str | None = None
        item: dict[str, Any] = {}
        n = 0
        for title, url, meta in rows:
            if title != current or not item:
                if item:
                    yield item
                current, n = title, 0
                item = _start(list_name, title, json.loads(meta))
            item[f"objectUrl_{n}"] = url
            n += 1
        if item:
            yield item

    def close(self) -> None:
        self.db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _start(list_name: str, title: str, meta: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"title": title}
    if list_name == "image_groups":
        item["createVideo"] = meta.get("group_create_video") is True
    rest = {k: v for k, v in meta.items() if k not in GROUP_FIELDS}
    if rest:
        item["clientMetadata"] = rest
    return item
