"""The published import shapes, as JSON schemas written from each vendor's documentation.

* Encord — "JSON format" of cloud data registration and the SDK's ``DataUploadItems`` /
  ``CustomerProvided*Metadata`` (encord/orm/storage.py): top-level lists, ``objectUrl``,
  optional ``title``/``clientMetadata``, metadata blocks whose fields are all required.
* Labelbox — data row import: ``row_data``, ``global_key``, ``external_id``, ``media_type``,
  ``metadata_fields`` of ``{name|schema_id, value}``.
* Ango Hub — "Importing Private Cloud Assets from AWS S3": ``data`` (https, percent-encoded,
  region in the host), ``externalId``, optional ``width``/``height``.
* Label Studio — tasks JSON: a list of ``{"data": {...}, "meta"?, "annotations"?,
  "predictions"?}``.
* CVAT — dataset manifest for images: ``{"version"}``, ``{"type": "images"}``, then
  ``{name, extension, width, height, meta?, checksum?}`` per line.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

_URL = {"type": "string", "minLength": 1, "maxLength": 16 * 1024}
_INT = {"type": "integer", "minimum": 1}
_SIZE = {"type": "integer", "minimum": 0}
_NUM = {"type": "number", "exclusiveMinimum": 0}


def _block(**fields: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": fields,
        "required": list(fields),
        "additionalProperties": False,
    }


def _encord_item(block: str | None, schema: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "objectUrl": _URL,
        "title": {"type": "string"},
        "clientMetadata": {"type": "object"},
    }
    if block:
        properties[block] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": ["objectUrl"],
        "additionalProperties": False,
    }


def _encord_group(*, sequence_flag: bool) -> dict[str, Any]:
    """An image group / image sequence (``createVideo``) or DICOM series: a title (required
    with a cloud integration) and positional ``objectUrl_0``, ``objectUrl_1``, …"""
    properties: dict[str, Any] = {"title": {"type": "string", "minLength": 1},
                                  "clientMetadata": {"type": "object"}}  # fmt: skip
    if sequence_flag:
        properties["createVideo"] = {"type": "boolean"}
    return {
        "type": "object",
        "properties": properties,
        "patternProperties": {r"^objectUrl_(0|[1-9][0-9]*)$": _URL},
        "required": ["title", "objectUrl_0"],
        "additionalProperties": False,
    }


_MIME = {"type": "string", "pattern": r"^[a-z]+/[-+.\w]+$"}
ENCORD = {
    "type": "object",
    "properties": {
        "images": {"type": "array", "items": _encord_item(
            "imageMetadata", _block(mimeType=_MIME, fileSize=_SIZE, width=_INT, height=_INT))},
        "videos": {"type": "array", "items": _encord_item("videoMetadata", _block(
            fps=_NUM, duration=_NUM, width=_INT, height=_INT, fileSize=_SIZE, mimeType=_MIME))},
        "audio": {"type": "array", "items": _encord_item("audioMetadata", _block(
            duration=_NUM, fileSize=_SIZE, mimeType=_MIME, sampleRate=_INT, bitDepth=_INT,
            codec={"type": "string"}, numChannels=_INT))},
        "text": {"type": "array", "items": _encord_item(
            "textMetadata", _block(fileSize=_SIZE, mimeType=_MIME))},
        "pdf": {"type": "array", "items": _encord_item(
            "pdfMetadata", _block(fileSize=_SIZE, numPages=_INT))},
        "image_groups": {"type": "array", "items": _encord_group(sequence_flag=True)},
        "dicom_series": {"type": "array", "items": _encord_group(sequence_flag=False)},
        "skip_duplicate_urls": {"type": "boolean"},
        "upsert_metadata": {"type": "boolean"},
    },
    "additionalProperties": False,
}  # fmt: skip

LABELBOX_ROW = {
    "type": "object",
    "properties": {
        "row_data": _URL,
        "global_key": {"type": "string", "minLength": 1},
        "external_id": {"type": "string"},
        "media_type": {
            "enum": ["IMAGE", "VIDEO", "AUDIO", "TEXT", "PDF", "HTML", "DOCUMENT", "DICOM"]
        },
        "metadata_fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "value": {"type": ["string", "number"]},
                },
                "required": ["name", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["row_data"],
    "additionalProperties": False,
}

ANGO = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "data": {"type": "string", "pattern": r"^https?://[^\s+]+$"},  # %20, never + or ' '
            "externalId": {"type": "string", "minLength": 1},
            "width": _INT,
            "height": _INT,
        },
        "required": ["data", "externalId"],
        "dependentRequired": {"width": ["height"], "height": ["width"]},
        "additionalProperties": False,
    },
}

LABEL_STUDIO = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "minProperties": 1,
                "anyOf": [
                    {"required": [k]} for k in ("image", "video", "audio", "text", "pdf", "url")
                ],
            },
            "meta": {"type": "object"},
            "annotations": {"type": "array"},
            "predictions": {"type": "array"},
        },
        "required": ["data"],
        "additionalProperties": False,
    },
}

CVAT_ITEM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "pattern": r"^[^/]"},
        "extension": {"type": "string", "pattern": r"^(\.[^./]+)?$"},
        "width": _INT,
        "height": _INT,
        "meta": {"type": "object"},
        "checksum": {"type": "string"},
    },
    "required": ["name", "extension", "width", "height"],
    "additionalProperties": False,
}


def _valid(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


def check_encord(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    _valid(doc, ENCORD)
    for name in ("image_groups", "dicom_series"):
        for item in doc.get(name, []):  # positions 0..n-1, none missing
            urls = [k for k in item if k.startswith("objectUrl_")]
            assert sorted(urls) == sorted(f"objectUrl_{i}" for i in range(len(urls))), item
    return doc


def check_labelbox(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    rows = [json.loads(line) for line in lines]  # NDJSON: one object per line, no blank lines
    for row in rows:
        _valid(row, LABELBOX_ROW)
    keys = [r.get("global_key") for r in rows]
    assert len(keys) == len(set(keys)), "global_key must be unique"
    return rows


def check_ango(text: str) -> list[dict[str, Any]]:
    doc = json.loads(text)
    _valid(doc, ANGO)
    return doc


def check_label_studio(text: str) -> list[dict[str, Any]]:
    doc = json.loads(text)
    _valid(doc, LABEL_STUDIO)
    return doc


def check_cvat(text: str) -> list[dict[str, Any]]:
    lines = text.split("\n")
    assert lines[-1] == "" and all(lines[:-1]), "one JSON object per line, no blank lines"
    rows = [json.loads(line) for line in lines[:-1]]
    assert rows[0] == {"version": "1.1"} and rows[1] == {"type": "images"}
    for row in rows[2:]:
        _valid(row, CVAT_ITEM)
    return rows[2:]


CHECKS = {
    "encord": check_encord,
    "labelbox": check_labelbox,
    "ango": check_ango,
    "label-studio": check_label_studio,
    "cvat": check_cvat,
}
