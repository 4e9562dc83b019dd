"""Bucket events: the parsed model, the payload shapes it is read from, and the reduction.

Shapes read (anything else is a :class:`PoisonMessage`):

* S3 event notifications ``{"Records": [{"eventName", "eventTime", "s3": {"bucket":
  {"name"}, "object": {"key", "size", "eTag", "sequencer"}}}]}``, keys form-encoded
  (``+`` is a space, ``%2B`` a plus); ``{"Event": "s3:TestEvent"}`` carries nothing, nor
  do other S3 / EventBridge / ``Microsoft.Storage.*`` types (tagging, restores, tiers);
* EventBridge ``{"source": "aws.s3", "detail-type": "Object Created" | "Object Deleted",
  "detail": {"bucket": {"name"}, "object": {"key", "size", "etag", "sequencer"}}}``, keys
  plain;
* either wrapped in SNS ``{"Type": "Notification", "Message": "<json>"}``;
* Azure Event Grid ``{"eventType": "Microsoft.Storage.BlobCreated" | "…BlobDeleted",
  "subject": "/blobServices/default/containers/C/blobs/NAME", "data": {"url",
  "contentLength", "eTag", "sequencer"}}``, one or a JSON array, or CloudEvents (``type``
  instead of ``eventType``); the message text plain JSON or base64 of it;
* GCS Pub/Sub notifications: attributes ``eventType`` (``OBJECT_FINALIZE`` created,
  ``OBJECT_DELETE`` / ``OBJECT_ARCHIVE`` removed, unless ``overwrittenByGeneration`` says a
  newer generation replaced it; ``OBJECT_METADATA_UPDATE`` carries nothing), ``bucketId``,
  ``objectId``, ``objectGeneration``, ``eventTime``; data (``payloadFormat: JSON_API_V1``)
  the object resource (``size``, ``etag``), or empty (``NONE``). The sequencer is the
  generation as 16 hex digits plus one digit (0 finalize, 1 delete/archive): generations are
  int64 microsecond stamps, and a generation is deleted after it was finalized.

A drain keeps one event per key: the last by ``sequencer`` (hex, compared left-padded),
then event time, then arrival.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from orchestration_pkg.core.storage import strip_etag

_SEQ_WIDTH = 64
_AZURE_BLOB = "/blobServices/default/containers/"


class PoisonMessage(ValueError):
    """A queue message that is no event this consumer knows (never carries the body)."""


@dataclass(frozen=True)
class BucketEvent:
    """One object created/overwritten (``deleted`` False) or deleted, as a queue told it."""

    bucket: str
    key: str
    deleted: bool
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    time: datetime | None = None
    arrival: int = 0

    def order(self) -> tuple[str, str, int]:
        """Sort key within one key's events: sequencer, then time, then arrival."""
        return self.sequence, "", self.arrival

    @property
    def sequence(self) -> str:
        """The event's place among one key's events, as one comparable string (what the inbox
        stores): the sequencer as 64 zero-padded upper-case hex digits ('' without one), ``|``,
        the event time in ISO UTC. S3 sequencers are hex strings of varying length, Azure's
        fixed-width hex: padding makes plain string order their numeric order."""
        seq = self.sequencer.upper().rjust(_SEQ_WIDTH, "0") if self.sequencer else ""
        when = ""
        if self.time is not None:
            aware = self.time if self.time.tzinfo else self.time.replace(tzinfo=timezone.utc)
            when = aware.astimezone(timezone.utc).isoformat()
        return f"{seq}|{when}"[:128]


def reduce_events(events: Iterable[BucketEvent]) -> dict[str, BucketEvent]:
    """The last event per key (a delete then a re-create leaves the create)."""
    last: dict[str, BucketEvent] = {}
    for event in events:
        seen = last.get(event.key)
        if seen is None or event.order() >= seen.order():
            last[event.key] = event
    return last


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        raise PoisonMessage("not JSON") from None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- S3 ----------------------------------------------------------------------------------------


def parse_s3_body(body: str, arrival: int = 0) -> list[BucketEvent]:
    """Events of one SQS message body (S3 notification, EventBridge, SNS-wrapped either)."""
    doc = _json(body)
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        if not isinstance(doc["Message"], str):
            raise PoisonMessage("SNS notification without a string Message")
        doc = _json(doc["Message"])
    if not isinstance(doc, dict):
        raise PoisonMessage("not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise PoisonMessage("Records is not a list")
        return [e for r in records if (e := _s3_record(r, arrival)) is not None]
    if doc.get("source") == "aws.s3" and "detail" in doc:
        event = _eventbridge(doc, arrival)
        return [event] if event is not None else []
    raise PoisonMessage("unknown message shape")


def _s3_record(record: Any, arrival: int) -> BucketEvent | None:
    """The event of one record; None for S3 events about something else (tagging, restore)."""
    try:
        name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError):
        raise PoisonMessage("S3 record without eventName/bucket/key") from None
    if not (isinstance(name, str) and isinstance(bucket, str) and isinstance(raw_key, str)):
        raise PoisonMessage("S3 record fields of the wrong type")
    if name.startswith("ObjectCreated:"):
        deleted = False
    elif name.startswith("ObjectRemoved:"):
        deleted = True
    else:
        return None
    return BucketEvent(
        bucket=bucket,
        key=unquote_plus(raw_key),  # form-encoded: '+' a space, '%2B' a plus
        deleted=deleted,
        size=None if deleted else _size(obj.get("size")),
        etag=None if deleted else strip_etag(_str(obj.get("eTag"))),
        sequencer=_str(obj.get("sequencer")),
        time=_time(record.get("eventTime")),
        arrival=arrival,
    )


def _eventbridge(doc: dict[str, Any], arrival: int) -> BucketEvent | None:
    kind = doc.get("detail-type")
    if not isinstance(kind, str):
        raise PoisonMessage("EventBridge event without a detail-type")
    if kind not in ("Object Created", "Object Deleted"):
        return None  # Object Restore Completed, Object Tags Added, …
    try:
        bucket = doc["detail"]["bucket"]["name"]
        obj = doc["detail"]["object"]
        key = obj["key"]
    except (KeyError, TypeError):
        raise PoisonMessage("EventBridge event without bucket/key") from None
    if not (isinstance(bucket, str) and isinstance(key, str)):
        raise PoisonMessage("EventBridge fields of the wrong type")
    deleted = kind == "Object Deleted"
    return BucketEvent(
        bucket=bucket,
        key=key,  # EventBridge keys are not form-encoded
        deleted=deleted,
        size=None if deleted else _size(obj.get("size")),
        etag=None if deleted else strip_etag(_str(obj.get("etag"))),
        sequencer=_str(obj.get("sequencer")),
        time=_time(doc.get("time")),
        arrival=arrival,
    )


# -- Azure -------------------------------------------------------------------------------------


def _azure_doc(text: str | bytes) -> Any:
    """Plain JSON, else base64 of JSON (what Event Grid writes into a storage queue)."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        pass
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise PoisonMessage("neither JSON nor base64") from None
    return _json(raw)


def parse_azure_message(text: str | bytes, arrival: int = 0) -> list[BucketEvent]:
    """Events of one storage queue message (Event Grid or CloudEvents, one or an array)."""
    doc = _azure_doc(text)
    docs = doc if isinstance(doc, list) else [doc]
    if not docs:
        raise PoisonMessage("empty event array")
    return [e for d in docs if (e := _azure_event(d, arrival)) is not None]


def _azure_event(doc: Any, arrival: int) -> BucketEvent | None:
    if not isinstance(doc, dict):
        raise PoisonMessage("event is not a JSON object")
    kind = doc.get("eventType", doc.get("type"))
    if kind == "Microsoft.Storage.BlobCreated":
        deleted = False
    elif kind == "Microsoft.Storage.BlobDeleted":
        deleted = True
    elif isinstance(kind, str) and kind.startswith("Microsoft.Storage."):
        return None  # BlobTierChanged, DirectoryCreated, …: nothing to register
    else:
        raise PoisonMessage("not a Microsoft.Storage event")
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    container, name = _azure_blob(doc.get("subject"), data.get("url"))
    return BucketEvent(
        bucket=container,
        key=name,
        deleted=deleted,
        size=None if deleted else _size(data.get("contentLength")),
        etag=None if deleted else strip_etag(_str(data.get("eTag"))),
        sequencer=_str(data.get("sequencer")),
        time=_time(doc.get("eventTime", doc.get("time"))),
        arrival=arrival,
    )


def _azure_blob(subject: Any, url: Any) -> tuple[str, str]:
    """(container, blob name): from ``subject`` (names not encoded), else ``data.url``."""
    if isinstance(subject, str) and subject.startswith(_AZURE_BLOB):
        container, sep, name = subject[len(_AZURE_BLOB) :].partition("/blobs/")
        if sep and container and name:
            return container, name
    if isinstance(url, str):
        parts = urlsplit(url).path.lstrip("/").split("/")
        if _emulator(url):  # http://HOST:PORT/ACCOUNT/CONTAINER/NAME
            parts = parts[1:]
        if len(parts) >= 2 and parts[0] and parts[-1]:
            return unquote(parts[0]), unquote("/".join(parts[1:]))
    raise PoisonMessage("event without a blob subject or URL")


# -- GCS (Pub/Sub) -----------------------------------------------------------------------------

_GCS_CREATED = ("OBJECT_FINALIZE",)
_GCS_REMOVED = ("OBJECT_DELETE", "OBJECT_ARCHIVE")


def parse_gcs_message(
    attributes: Mapping[str, str], data: str | bytes, arrival: int = 0
) -> list[BucketEvent]:
    """Events of one GCS Pub/Sub notification (its attributes and data)."""
    kind = attributes.get("eventType")
    if not isinstance(kind, str) or not kind.startswith("OBJECT_"):
        raise PoisonMessage("not a GCS notification (no OBJECT_* eventType attribute)")
    resource: dict[str, Any] = {}
    if data:
        doc = _json(data)
        if not isinstance(doc, dict):
            raise PoisonMessage("GCS notification data is not a JSON object")
        resource = doc
    bucket = _str(attributes.get("bucketId")) or _str(resource.get("bucket"))
    key = _str(attributes.get("objectId")) or _str(resource.get("name"))
    if bucket is None or key is None:
        raise PoisonMessage("GCS notification without bucketId/objectId")
    if kind in _GCS_REMOVED and attributes.get("overwrittenByGeneration"):
        return []  # the old generation of an overwrite: the new one's OBJECT_FINALIZE counts
    if kind not in _GCS_CREATED + _GCS_REMOVED:
        return []  # OBJECT_METADATA_UPDATE: nothing to register
    deleted = kind in _GCS_REMOVED
    generation = _generation(attributes.get("objectGeneration", resource.get("generation")))
    return [
        BucketEvent(
            bucket=bucket,
            key=key,  # objectId / name are plain, not encoded
            deleted=deleted,
            size=None if deleted else _int_text(resource.get("size")),
            etag=None if deleted else strip_etag(_str(resource.get("etag"))),
            sequencer=None if generation is None else f"{generation:016X}{int(deleted)}",
            time=_time(attributes.get("eventTime")) or _time(resource.get("updated")),
            arrival=arrival,
        )
    ]


def _generation(value: Any) -> int | None:
    """An object generation (decimal text in GCS payloads) as an int, None if unusable."""
    number = _int_text(value)
    return number if number is not None and number < 2**64 else None


def _int_text(value: Any) -> int | None:
    """A non-negative int given as an int or as decimal text (GCS JSON writes int64 as text)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return _size(value)


def _emulator(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost") or host.replace(".", "").isdigit()


__all__ = [
    "BucketEvent",
    "PoisonMessage",
    "parse_azure_message",
    "parse_gcs_message",
    "parse_s3_body",
    "reduce_events",
]
