"""Streaming manifest reader: formats, shapes, flags, row errors, encodings, streaming."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest import Manifest, guess_media_kind, read_manifest
from orchestration_pkg.core.manifest.formats.json_position import error_position
from orchestration_pkg.core.models import ManifestItem, MediaKind, MediaMetadata, RowError

SIGNED = "https://photos.s3.eu-west-1.amazonaws.com/a.jpg?X-Amz-Signature=secret123"


class OnlyRead:
    """A non-seekable stream like boto3's StreamingBody: nothing but ``read(n)``."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self._data = io.BytesIO(data)
        self._chunk = chunk  # return short reads, as network streams do
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        return self._data.read(self._chunk if n < 0 else min(n, self._chunk))


def write(tmp_path: Path, name: str, content: str | bytes | Any) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


def summary(manifest: Manifest) -> list[tuple[Any, ...]]:
    """(row, url) for items and (row, field) prefixed with "error" for row errors."""
    out: list[tuple[Any, ...]] = []
    for entry in manifest:
        if isinstance(entry, RowError):
            out.append(("error", entry.row, entry.field))
        else:
            out.append((entry.row, entry.url))
    return out


def items(manifest: Manifest) -> list[ManifestItem]:
    rows = list(manifest)
    assert all(isinstance(r, ManifestItem) for r in rows), rows
    return rows  # type: ignore[return-value]


def errors(manifest: Manifest) -> dict[int, RowError]:
    return {r.row: r for r in manifest if isinstance(r, RowError)}


# --- Encord --------------------------------------------------------------------------------

ENCORD = {
    "images": [
        {
            "objectUrl": "https://photos.s3.eu-west-1.amazonaws.com/cat%201.jpg",
            "title": "cat",
            "clientMetadata": {"split": "train", "tags": ["a", "b"]},
            "imageMetadata": {
                "mimeType": "image/jpeg",
                "fileSize": 1234,
                "width": 640,
                "height": 480,
                "unknownKey": 1,
            },
            "unknownItemKey": {"nested": [1, 2]},
        }
    ],
    "ignored_top_level": {"deep": [{"x": [1, {"y": 2}]}], "images": "not this one"},
    "videos": [
        {
            "objectUrl": "s3://photos/clip.mov",
            "videoMetadata": {
                "fps": 29.97,
                "duration": 12.5,
                "width": 1920,
                "height": 1080,
                "fileSize": 99,
                "mimeType": "video/quicktime",
            },
        }
    ],
    "audio": [
        {
            "objectUrl": "s3://photos/a.wav",
            "audioMetadata": {
                "duration": 3,
                "fileSize": 10,
                "mimeType": "audio/wav",
                "sampleRate": 44100,
                "bitDepth": 16,
                "codec": "pcm",
                "numChannels": 2,
            },
        }
    ],
    "pdf": [{"objectUrl": "s3://photos/doc", "pdfMetadata": {"fileSize": 5}}],
    "text": [{"objectUrl": "s3://photos/t", "textMetadata": {"mimeType": "text/plain"}}],
    "skip_duplicate_urls": True,
    "upsert_metadata": True,
}


def test_encord_json_maps_every_list(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path, "upload.json", ENCORD))
    assert (manifest.format, manifest.shape) == ("json", "encord")
    assert manifest.flags.skip_duplicate_urls and manifest.flags.upsert_metadata
    image, video, audio, pdf, text = items(manifest)
    assert image == ManifestItem(
        row=1,
        url="https://photos.s3.eu-west-1.amazonaws.com/cat%201.jpg",
        title="cat",
        media_kind=MediaKind.IMAGE,
        client_metadata={"split": "train", "tags": ["a", "b"]},
        given=MediaMetadata(mime_type="image/jpeg", file_size=1234, width=640, height=480),
    )
    assert (video.row, video.media_kind, video.title) == (2, MediaKind.VIDEO, None)
    assert video.given == MediaMetadata(
        fps=29.97, duration=12.5, width=1920, height=1080, file_size=99, mime_type="video/quicktime"
    )
    assert audio.media_kind is MediaKind.AUDIO
    assert audio.given.to_encord() == ENCORD["audio"][0]["audioMetadata"]
    assert (pdf.row, pdf.media_kind, pdf.given.file_size) == (4, MediaKind.PDF, 5)
    assert (text.row, text.media_kind, text.given.mime_type) == (5, MediaKind.TEXT, "text/plain")


def test_encord_flags_after_lists_are_read_from_a_local_file(tmp_path: Path) -> None:
    text = '{"images": [{"objectUrl": "s3://photos/a.jpg"}], "skip_duplicate_urls": true}'
    manifest = read_manifest(write(tmp_path, "m.json", text))
    assert manifest.flags.skip_duplicate_urls is True
    assert manifest.flags.upsert_metadata is False
    assert summary(manifest) == [(1, "s3://photos/a.jpg")]
    assert manifest.ignored_flags == []


def test_encord_flags_before_lists_are_read_from_a_stream() -> None:
    text = b'{"upsert_metadata": true, "skip_duplicate_urls": false, "images": []}'
    manifest = read_manifest(OnlyRead(text), name="m.json")
    assert manifest.flags.upsert_metadata is True
    assert manifest.flags.skip_duplicate_urls is False
    assert list(manifest) == []


def test_encord_flags_after_lists_in_a_stream_are_reported_as_ignored() -> None:
    text = (
        b'{"upsert_metadata": true, "images": [{"objectUrl": "s3://photos/a.jpg"}],'
        b' "skip_duplicate_urls": true}'
    )
    manifest = read_manifest(OnlyRead(text), name="m.json")
    assert manifest.flags.upsert_metadata is True
    assert manifest.flags.skip_duplicate_urls is False  # not seen before the first list
    assert summary(manifest) == [(1, "s3://photos/a.jpg")]
    assert manifest.ignored_flags == ["skip_duplicate_urls"]


def test_encord_bad_flag_value(tmp_path: Path) -> None:
    path = write(tmp_path, "m.json", {"images": [], "skip_duplicate_urls": "yes"})
    with pytest.raises(ManifestError, match="'skip_duplicate_urls' must be true or false"):
        read_manifest(path)


def test_encord_groups_yield_one_item_per_url(tmp_path: Path) -> None:
    group = {"title": "scan", "createVideo": False, "clientMetadata": {"site": "x"}}
    group |= {f"objectUrl_{i}": f"s3://photos/g/{i}.png" for i in (10, 2, 0, 1)}
    data = {
        "image_groups": [group],
        "dicom_series": [
            {"title": "ct", "objectUrls": ["s3://photos/d/1.dcm", "s3://photos/d/2.dcm"]},
            {"title": "mr", "imageGroup": [{"objectUrl": "s3://photos/m/1.dcm"}]},
        ],
        "images": [{"objectUrl": "s3://photos/after.jpg"}],
    }
    rows = items(read_manifest(write(tmp_path, "groups.json", data)))
    assert [(r.row, r.url) for r in rows] == [
        (1, "s3://photos/g/0.png"),
        (1, "s3://photos/g/1.png"),
        (1, "s3://photos/g/2.png"),
        (1, "s3://photos/g/10.png"),
        (2, "s3://photos/d/1.dcm"),
        (2, "s3://photos/d/2.dcm"),
        (3, "s3://photos/m/1.dcm"),
        (4, "s3://photos/after.jpg"),
    ]
    assert rows[3].media_kind is MediaKind.IMAGE_GROUP
    assert rows[3].client_metadata == {"site": "x", "group_title": "scan", "group_index": 3}
    assert rows[5].media_kind is MediaKind.DICOM_SERIES
    assert rows[5].client_metadata == {"group_title": "ct", "group_index": 1}
    assert rows[7].media_kind is MediaKind.IMAGE


def test_encord_bad_rows_do_not_stop_reading(tmp_path: Path) -> None:
    data = {
        "images": [
            {"objectUrl": "s3://photos/1.jpg"},
            {"title": "no url"},
            {"objectUrl": ""},
            {"objectUrl": 42},
            "not an object",
            {"objectUrl": "s3://photos/6.jpg", "clientMetadata": [1, 2]},
            {"objectUrl": "s3://photos/7.jpg", "imageMetadata": {"width": 0}},
            {"objectUrl": "s3://photos/8.jpg", "imageMetadata": {"height": -3}},
            {"objectUrl": "s3://photos/9.jpg", "imageMetadata": {"width": 10.5}},
            {"objectUrl": "s3://photos/10.jpg", "imageMetadata": {"fileSize": "12"}},
            {"objectUrl": "s3://photos/11.jpg", "imageMetadata": "big"},
            {"objectUrl": "s3://photos/12.jpg"},
        ],
        "videos": [
            {"objectUrl": "s3://photos/13.mp4", "videoMetadata": {"duration": "long"}},
            {"objectUrl": "s3://photos/14.mp4", "videoMetadata": {"fps": 0}},
            {"objectUrl": "s3://photos/15.mp4", "videoMetadata": {"fps": 25, "duration": 1}},
        ],
        "image_groups": [{"title": "g", "objectUrl_0": "s3://photos/g0.png", "objectUrl_1": None}],
        "dicom_series": [{"title": "no urls"}],
    }
    assert summary(read_manifest(write(tmp_path, "m.json", data))) == [
        (1, "s3://photos/1.jpg"),
        ("error", 2, "objectUrl"),
        ("error", 3, "objectUrl"),
        ("error", 4, "objectUrl"),
        ("error", 5, "item"),
        ("error", 6, "clientMetadata"),
        ("error", 7, "imageMetadata.width"),
        ("error", 8, "imageMetadata.height"),
        ("error", 9, "imageMetadata.width"),
        ("error", 10, "imageMetadata.fileSize"),
        ("error", 11, "imageMetadata"),
        (12, "s3://photos/12.jpg"),
        ("error", 13, "videoMetadata.duration"),
        ("error", 14, "videoMetadata.fps"),
        (15, "s3://photos/15.mp4"),
        ("error", 16, "objectUrl_1"),
        ("error", 17, "objectUrl_0"),
    ]


def test_row_error_details(tmp_path: Path) -> None:
    data = {
        "images": [
            {"title": "no url"},
            {"objectUrl": 42},
            {"objectUrl": "s3://photos/3.jpg", "imageMetadata": {"width": 0}},
            {"objectUrl": "s3://photos/4.jpg", "clientMetadata": "x" * 5000},
        ]
    }
    found = errors(read_manifest(write(tmp_path, "m.json", data)))
    assert str(found[1]) == "row 1, field 'objectUrl': missing"
    assert found[1].url is None
    assert found[2].reason == "must be a string, not a number"
    assert found[3].reason == "must be greater than 0"
    assert found[3].url == "s3://photos/3.jpg"
    assert found[4].reason == "must be a JSON object, not a string"  # input is not echoed


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"images": {"objectUrl": "s3://photos/a"}}, "'images' must be a list"),
        ({"skip_duplicate_urls": True}, "none of the lists images, videos"),
        ({}, "none of the lists"),
    ],
)
def test_encord_structure_errors(tmp_path: Path, data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        read_manifest(write(tmp_path, "m.json", data))


def test_encord_rows_from_a_stream_match_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "upload.json", ENCORD)
    from_file = list(read_manifest(path))
    from_stream = read_manifest(OnlyRead(path.read_bytes(), chunk=4096), name="uploads/u.json")
    assert list(from_stream) == from_file
    assert from_stream.ignored_flags == ["skip_duplicate_urls", "upsert_metadata"]


# --- Ango ----------------------------------------------------------------------------------

ANGO = [
    {
        "data": "https://bucket-name.s3.eu-central-1.amazonaws.com/file.jpg",
        "externalId": "cute-cat.jpg",
        "width": 603,
        "height": 450,
    },
    {
        "data": "https://bucket-name.s3.eu-central-1.amazonaws.com/file%202.jpg",
        "externalId": "cute-dog.jpg",
        "width": 1800,
        "height": 1200,
        "metadata": {"source": "web"},
    },
]


def test_ango_json(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path, "ango.json", ANGO))
    assert (manifest.format, manifest.shape) == ("json", "ango")
    cat, dog = items(manifest)
    assert cat == ManifestItem(
        row=1,
        url=ANGO[0]["data"],
        title="cute-cat.jpg",
        external_id="cute-cat.jpg",
        media_kind=MediaKind.IMAGE,
        given=MediaMetadata(width=603, height=450),
    )
    assert dog.url.endswith("file%202.jpg")  # kept exactly as written
    assert dog.client_metadata == {"source": "web"}


def test_ango_bad_rows(tmp_path: Path) -> None:
    data = [
        {"externalId": "first row is bad"},
        {"data": "s3://photos/2.jpg", "width": "603"},
        {"data": "s3://photos/3.jpg", "height": 0},
        {"data": "s3://photos/4.jpg", "metadata": 5},
        {"data": "s3://photos/5.jpg", "externalId": ["x"]},
        {"data": "s3://photos/6.jpg", "externalId": 6},
    ]
    manifest = read_manifest(write(tmp_path, "ango.json", data))
    assert manifest.shape == "ango"  # decided from the first item, even a bad one
    assert summary(manifest) == [
        ("error", 1, "data"),
        ("error", 2, "width"),
        ("error", 3, "height"),
        ("error", 4, "metadata"),
        ("error", 5, "externalId"),
        (6, "s3://photos/6.jpg"),
    ]


def test_ango_jsonl_and_csv(tmp_path: Path) -> None:
    lines = "\n".join(json.dumps(item) for item in ANGO) + "\n"
    jsonl = read_manifest(write(tmp_path, "ango.jsonl", lines))
    assert (jsonl.format, jsonl.shape) == ("jsonl", "ango")
    from_json = items(read_manifest(write(tmp_path, "ango.json", ANGO)))
    assert items(jsonl) == from_json
    csv_text = (
        "data,externalId,width,height\n"
        f"{ANGO[0]['data']},cute-cat.jpg,603,450\n"
        f"{ANGO[1]['data']},cute-dog.jpg,1800,1200\n"
    )
    manifest = read_manifest(write(tmp_path, "ango.csv", csv_text))
    assert (manifest.format, manifest.shape) == ("csv", "ango")
    rows = items(manifest)
    assert [r.row for r in rows] == [2, 3]
    assert [(r.title, r.external_id, r.given) for r in rows] == [
        (r.title, r.external_id, r.given) for r in from_json
    ]


# --- Labelbox ------------------------------------------------------------------------------

LABELBOX = [
    {
        "row_data": "s3://photos/v.mp4",
        "global_key": "video-1",
        "external_id": "ext-1",
        "media_type": "VIDEO",
        "metadata_fields": [{"name": "split", "value": "train"}, {"name": "n", "value": 3}],
    },
    {"row_data": "s3://photos/x.bin", "external_id": "ext-2", "media_type": "document"},
    {"row_data": "s3://photos/guess.png"},
    {"row_data": "s3://photos/tile", "media_type": "GEOSPATIAL_TILE"},
    {"row_data": "s3://photos/m", "metadata_fields": {"split": "train"}},
    {"row_data": "s3://photos/m2", "metadata_fields": [{"value": 1}]},
    {"global_key": "no data"},
]


def check_labelbox(manifest: Manifest) -> None:
    assert manifest.shape == "labelbox"
    rows = list(manifest)
    first, second, third = rows[:3]
    assert isinstance(first, ManifestItem) and isinstance(second, ManifestItem)
    assert (first.title, first.external_id, first.media_kind) == ("video-1", "ext-1", "video")
    assert first.client_metadata == {"split": "train", "n": 3}
    assert (second.title, second.external_id, second.media_kind) == (
        "ext-2",
        "ext-2",
        MediaKind.PDF,
    )
    assert isinstance(third, ManifestItem) and third.media_kind is MediaKind.IMAGE
    assert [(r.row, r.field) for r in rows[3:] if isinstance(r, RowError)] == [
        (4, "media_type"),
        (5, "metadata_fields"),
        (6, "metadata_fields[0].name"),
        (7, "row_data"),
    ]


def test_labelbox_json_and_jsonl(tmp_path: Path) -> None:
    check_labelbox(read_manifest(write(tmp_path, "lb.json", LABELBOX)))
    lines = "\n".join(json.dumps(item) for item in LABELBOX)
    manifest = read_manifest(write(tmp_path, "lb.ndjson", lines))
    assert manifest.format == "jsonl"
    check_labelbox(manifest)


def test_labelbox_unknown_media_type_reason(tmp_path: Path) -> None:
    found = errors(read_manifest(write(tmp_path, "lb.json", LABELBOX)))
    assert found[4].reason.startswith("unknown value 'GEOSPATIAL_TILE' (expected one of IMAGE")


def test_labelbox_csv(tmp_path: Path) -> None:
    text = "row_data,global_key,external_id,media_type\ns3://photos/a,k1,e1,image\ns3://photos/b,,e2,\n"
    manifest = read_manifest(write(tmp_path, "lb.csv", text))
    assert manifest.shape == "labelbox"
    first, second = items(manifest)
    assert (first.row, first.title, first.external_id, first.media_kind) == (
        2,
        "k1",
        "e1",
        MediaKind.IMAGE,
    )
    assert (second.row, second.title, second.external_id, second.media_kind) == (
        3,
        "e2",
        "e2",
        None,
    )


# --- native --------------------------------------------------------------------------------

NATIVE = [
    {
        "url": "s3://photos/a.jpg",
        "title": "A",
        "external_id": "a-1",
        "mime_type": "image/jpeg",
        "file_size": 10,
        "width": 4,
        "height": 3,
        "client_metadata": {"k": "v"},
    },
    {"url": "s3://photos/b", "media_kind": "Video", "duration": 1.5, "fps": 30},
    {"url": "s3://photos/c.txt", "media_kind": None},
]


def check_native(manifest: Manifest, first_row: int) -> None:
    assert manifest.shape == "native"
    a, b, c = items(manifest)
    assert a == ManifestItem(
        row=first_row,
        url="s3://photos/a.jpg",
        title="A",
        external_id="a-1",
        media_kind=MediaKind.IMAGE,
        client_metadata={"k": "v"},
        given=MediaMetadata(mime_type="image/jpeg", file_size=10, width=4, height=3),
    )
    assert (b.row, b.media_kind, b.given) == (
        first_row + 1,
        MediaKind.VIDEO,
        MediaMetadata(duration=1.5, fps=30),
    )
    assert (c.row, c.media_kind) == (first_row + 2, MediaKind.TEXT)


def test_native_json_jsonl_csv(tmp_path: Path) -> None:
    check_native(read_manifest(write(tmp_path, "n.json", NATIVE)), 1)
    lines = "\n\n".join(json.dumps(item) for item in NATIVE) + "\n\n"
    check_native(read_manifest(write(tmp_path, "n.jsonl", lines)), 1)  # blank lines skipped
    text = (
        "url,title,external_id,media_kind,mime_type,file_size,width,height,duration,fps,"
        "client_metadata\n"
        's3://photos/a.jpg,A,a-1,,image/jpeg,10,4,3,,,"{""k"": ""v""}"\n'
        "s3://photos/b,,,Video,,,,,1.5,30,\n"
        "s3://photos/c.txt,,,,,,,,,,\n"
    )
    manifest = read_manifest(write(tmp_path, "n.csv", text))
    assert manifest.format == "csv"
    check_native(manifest, 2)


def test_native_bad_rows(tmp_path: Path) -> None:
    data = [
        {"url": "s3://photos/1"},
        {"url": None},
        {"url": "   "},
        {"url": "s3://photos/4", "media_kind": "hologram"},
        {"url": "s3://photos/5", "file_size": -1},
        {"url": "s3://photos/6", "fps": "fast"},
        {"url": "s3://photos/7", "width": True},
        {"url": "s3://photos/8", "client_metadata": "{}"},
        [1, 2],
        {"url": "s3://photos/10", "title": {"t": 1}},
        {"url": "s3://photos/11", "extra": "ignored"},
    ]
    assert summary(read_manifest(write(tmp_path, "n.json", data))) == [
        (1, "s3://photos/1"),
        ("error", 2, "url"),
        ("error", 3, "url"),
        ("error", 4, "media_kind"),
        ("error", 5, "file_size"),
        ("error", 6, "fps"),
        ("error", 7, "width"),
        ("error", 8, "client_metadata"),
        ("error", 9, "item"),
        ("error", 10, "title"),
        (11, "s3://photos/11"),
    ]


# --- CSV specifics -------------------------------------------------------------------------


def test_csv_rows_are_spreadsheet_row_numbers(tmp_path: Path) -> None:
    text = (
        "url,title,width,client_metadata\r\n"
        "s3://photos/2.jpg,two,,\r\n"
        "\r\n"
        ',"empty url",,\r\n'
        's3://photos/5.jpg,"multi\r\nline title",-4,\r\n'
        "s3://photos/6.jpg,six,abc,\r\n"
        "s3://photos/7.jpg,seven,,{not json\r\n"
        's3://photos/8.jpg,eight,,"[1]"\r\n'
        "s3://photos/9.jpg,nine\r\n"
    )
    assert summary(read_manifest(write(tmp_path, "m.csv", text))) == [
        (2, "s3://photos/2.jpg"),
        ("error", 4, "url"),
        ("error", 5, "width"),
        ("error", 6, "width"),
        ("error", 7, "client_metadata"),
        ("error", 8, "client_metadata"),
        (9, "s3://photos/9.jpg"),
    ]


def test_csv_header_aliases_case_and_delimiter(tmp_path: Path) -> None:
    text = 'ObjectURL;Title;FileSize;clientMetadata\ns3://photos/a.pdf;Doc;12;{"a": 1}\n'
    manifest = read_manifest(write(tmp_path, "m.csv", text))
    assert manifest.shape == "encord"
    (item,) = items(manifest)
    assert (item.title, item.media_kind, item.given.file_size, item.client_metadata) == (
        "Doc",
        MediaKind.PDF,
        12,
        {"a": 1},
    )


def test_csv_error_names_the_url_column(tmp_path: Path) -> None:
    (item,) = errors(read_manifest(write(tmp_path, "m.csv", "row_data,global_key\n,k\n"))).values()
    assert (item.row, item.field, item.reason) == (2, "row_data", "is empty")


def test_csv_without_url_column(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        read_manifest(write(tmp_path, "m.csv", "path,name,size\na,b,1\n"))
    message = str(err.value)
    assert "no URL column" in message and "columns found: path, name, size" in message
    assert "\n" not in message


# --- format detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fmt", "expected"),
    [
        (None, b'[{"url": "s3://photos/a"}]', None, "json"),
        ("data.txt", b'  \n[{"url": "s3://photos/a"}]', None, "json"),
        (None, b'{"url": "s3://photos/a"}\n{"url": "s3://photos/b"}\n', None, "jsonl"),
        (None, b'{"url": "s3://photos/a"}', None, "jsonl"),
        ("m.json", b'{"url": "s3://photos/a"}\n{"url": "s3://photos/b"}', None, "jsonl"),
        (None, b'{\n  "images": [{"objectUrl": "s3://photos/a"}]\n}\n', None, "json"),
        (None, b'{"images": [{"objectUrl": "s3://photos/a"}]}\n', None, "json"),
        (None, b"url\ns3://photos/a\n", None, "csv"),
        ("m.json", b"url\ns3://photos/a\n", "csv", "csv"),
        ("m.csv", b'{"url": "s3://photos/a"}\n', "ndjson", "jsonl"),
        ("M.JSONL", b'{"url": "s3://photos/a"}', None, "jsonl"),
    ],
)
def test_format_detection(name: str | None, content: bytes, fmt: str | None, expected: str) -> None:
    manifest = read_manifest(OnlyRead(content), name=name, fmt=fmt)
    assert manifest.format == expected
    rows = items(manifest)
    assert rows[0].url == "s3://photos/a"


def test_unknown_forced_format() -> None:
    with pytest.raises(ManifestError, match="unknown manifest format 'xml'"):
        read_manifest(OnlyRead(b"[]"), fmt="xml")


def test_json_extension_with_csv_content(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="must be an array"):
        read_manifest(write(tmp_path, "m.json", "url\ns3://photos/a\n"))


def test_one_line_minified_encord_over_a_megabyte_from_a_stream() -> None:
    images = [{"objectUrl": f"s3://photos/{i:06d}.jpg"} for i in range(40_000)]
    content = json.dumps({"images": images, "upsert_metadata": True}).encode()
    assert len(content) > 1 << 20 and b"\n" not in content
    manifest = read_manifest(OnlyRead(content, chunk=65536))
    assert (manifest.format, manifest.shape) == ("json", "encord")
    assert sum(1 for _ in manifest) == 40_000


# --- encodings and broken files ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.json", '[{"url": "s3://photos/café.jpg"}]'),
        ("m.jsonl", '{"url": "s3://photos/café.jpg"}\n'),
        ("m.csv", "url\ns3://photos/café.jpg\n"),
        ("m.json", '{"images": [{"objectUrl": "s3://photos/café.jpg"}]}'),
    ],
)
def test_utf8_bom_is_accepted(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path, name, b"\xef\xbb\xbf" + content.encode("utf-8"))
    assert summary(read_manifest(path)) == [(1 if name != "m.csv" else 2, "s3://photos/café.jpg")]
    stream = read_manifest(OnlyRead(path.read_bytes(), chunk=1), name=name)
    assert summary(stream) == summary(read_manifest(path))


@pytest.mark.parametrize("content", [b"", b"   \n\r\n\t ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
@pytest.mark.parametrize("name", ["m.json", "m.csv", "m.jsonl", "m"])
def test_empty_manifest(tmp_path: Path, name: str, content: bytes) -> None:
    with pytest.raises(ManifestError, match="manifest is empty"):
        read_manifest(write(tmp_path, name, content))


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("m.json", b'[{"url": "s3://photos/caf\xe9.jpg"}]', "not valid UTF-8"),
        ("m.json", b'{"images": [{"objectUrl": "s3://p/caf\xe9"}]}', "not valid UTF-8"),
        ("m.jsonl", b'{"url": "s3://photos/a"}\n{"url": "s3://photos/caf\xe9"}\n', "at row 2"),
        ("m.csv", b"url\ns3://photos/a\ns3://photos/caf\xe9.jpg\n", "not valid UTF-8 at row 3"),
        ("m.csv", "url\ns3://photos/a\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_not_utf8(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        list(read_manifest(write(tmp_path, name, content)))


def test_broken_json_mid_file_after_good_rows(tmp_path: Path) -> None:
    good = ",".join(json.dumps({"url": f"s3://photos/{i}.jpg"}) for i in range(1, 4))
    text = f'[{good}, {{"url": "{SIGNED}"}} {{"url": "s3://photos/x"}}]'
    manifest = read_manifest(OnlyRead(text.encode()), name="m.json")
    seen: list[Any] = []
    with pytest.raises(ManifestError) as err:
        for row in manifest:
            seen.append(row)
    assert [r.url for r in seen] == [f"s3://photos/{i}.jpg" for i in range(1, 4)] + [SIGNED]
    message = str(err.value)
    column = text.rindex("{") + 1  # the item after the signed one lacks its comma
    assert message.startswith(f"m.json: invalid JSON at line 1, column {column} (after row 4): ")
    assert "parse error" in message
    assert "secret123" not in message and "\n" not in message


def test_broken_encord_in_a_stream_fails_when_reached() -> None:
    text = b'{"images": [{"objectUrl": "s3://photos/1"}, {"objectUrl": "s3://photos/2"}, {oops}]}'
    manifest = read_manifest(OnlyRead(text))
    seen = []
    with pytest.raises(ManifestError, match=r"invalid JSON at line 1, column 78 \(after row 2\)"):
        for row in manifest:
            seen.append(row)
    assert len(seen) == 2


def test_broken_encord_local_file_fails_on_open(tmp_path: Path) -> None:
    path = write(tmp_path, "m.json", '{"images": [{"objectUrl": "s3://photos/1"}, {oops}]}')
    with pytest.raises(ManifestError, match="invalid JSON"):
        read_manifest(path)  # the flags pass reads the whole file first


def test_truncated_json(tmp_path: Path) -> None:
    path = write(tmp_path, "m.json", '[{"url": "s3://photos/1"}, {"url": "s3://ph')
    end = r"line 1, column 44 \(after row 1\): parse error: premature EOF"
    with pytest.raises(ManifestError, match=end):
        list(read_manifest(path))


def test_trailing_garbage_after_encord_object() -> None:
    with pytest.raises(ManifestError, match="trailing garbage"):
        list(read_manifest(OnlyRead(b'{"images": [{"objectUrl": "s3://p/a"}]} junk')))


def test_broken_jsonl_line_is_a_row_error(tmp_path: Path) -> None:
    text = '{"url": "s3://photos/1"}\n{"url": oops}\n[1]\n{"url": "s3://photos/4"}\n'
    manifest = read_manifest(write(tmp_path, "m.jsonl", text))
    assert summary(manifest) == [
        (1, "s3://photos/1"),
        ("error", 2, "line"),
        ("error", 3, "item"),
        (4, "s3://photos/4"),
    ]


# --- positions of JSON syntax errors -------------------------------------------------------


def json_error(source: Any, name: str = "m.json") -> str:
    """The one-line message of the ManifestError met while reading ``source`` to the end."""
    with pytest.raises(ManifestError) as err:
        for _ in read_manifest(source, name=name):
            pass
    message = str(err.value)
    assert "\n" not in message
    return message


def both_sources(tmp_path: Path, text: str) -> list[Any]:
    """The same manifest as a seekable local file and as a stream that can only be read."""
    return [write(tmp_path, "m.json", text), OnlyRead(text.encode("utf-8"))]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a bad value: 'oops' starts at column 41 of line 3
            '[\n  {"url": "s3://photos/1.jpg"},\n  {"url": "s3://photos/2.jpg", "title": oops},\n'
            '  {"url": "s3://photos/3.jpg"}\n]\n',
            "m.json: invalid JSON at line 3, column 41 (after row 1): lexical error: "
            "invalid char in json text.",
        ),
        (  # a missing comma between items: the second item starts at line 3, column 3
            '[\n  {"url": "s3://photos/1.jpg"}\n  {"url": "s3://photos/2.jpg"}\n]\n',
            "m.json: invalid JSON at line 3, column 3 (after row 1): parse error: "
            "after array element, I expect ',' or ']'",
        ),
        (  # cut short: the error is at the end of the text (column 19 of line 3)
            '[\n  {"url": "s3://photos/1.jpg"},\n  {"url": "s3://ph',
            "m.json: invalid JSON at line 3, column 19 (after row 1): parse error: premature EOF",
        ),
        (  # columns count characters, not bytes
            '[{"title": "café ☕", "url": "s3://p/a"} {"url": "s3://p/b"}]',
            "m.json: invalid JSON at line 1, column 41 (after row 1): parse error: "
            "after array element, I expect ',' or ']'",
        ),
        (  # before the first item
            "[\n  oops\n]",
            "m.json: invalid JSON at line 2, column 3 (before the first row): lexical error: "
            "invalid char in json text.",
        ),
    ],
)
def test_json_array_error_has_line_and_column(
    tmp_path: Path, text: str, expected: str, stream: bool
) -> None:
    source = both_sources(tmp_path, text)[stream]
    assert json_error(source) == expected


ENCORD_BROKEN = (
    '{\n  "images": [\n    {"objectUrl": "s3://photos/1.jpg"},\n'
    '    {"objectUrl": "s3://photos/2.jpg",}\n  ]\n}\n'
)


def test_encord_error_has_line_and_column(tmp_path: Path) -> None:
    file, stream = both_sources(tmp_path, ENCORD_BROKEN)
    where = "invalid JSON at line 4, column 39"
    assert json_error(file).startswith(f"m.json: {where}: parse error")  # found on open
    assert json_error(stream).startswith(f"m.json: {where} (after row 1): parse error")


def test_trailing_garbage_has_line_and_column(tmp_path: Path) -> None:
    text = '{\n  "images": [{"objectUrl": "s3://p/a"}]\n}\n\n  junk\n'
    for source in both_sources(tmp_path, text):
        message = json_error(source)
        assert message.startswith("m.json: invalid JSON at line 5, column 3")
        assert "trailing garbage" in message


def test_json_error_position_in_a_big_file_keeps_memory_flat(tmp_path: Path) -> None:
    rows = 100_000
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        out.write(",\n".join(f'{{"url": "s3://photos/dir/file-{i:07d}.jpg"}}' for i in range(rows)))
        out.write('\n  {"url": "s3://photos/last.jpg" "title": "x"}\n]\n')
    assert path.stat().st_size > 4 << 20
    message = json_error(path)
    assert message.startswith(
        f"m.json: invalid JSON at line {rows + 2}, column 3 (after row {rows}): parse error"
    )
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            assert error_position(stream) == (rows + 2, 3)  # the second pass, alone
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_json_error_far_into_a_stream_has_no_position() -> None:
    """A stream that cannot seek keeps only its first MiB for locating errors."""
    good = ",\n".join(f'{{"url": "s3://photos/dir/file-{i:07d}.jpg"}}' for i in range(40_000))
    text = f"[\n{good},\n  {{oops}}\n]\n"
    assert len(text) > 1 << 20
    message = json_error(OnlyRead(text.encode(), chunk=65536))
    assert message.startswith("m.json: invalid JSON after row 40000: lexical error")


def test_jsonl_error_has_file_line_and_column(tmp_path: Path) -> None:
    text = (
        '{"url": "s3://photos/1.jpg"}\n\n   {"url": oops}\n'
        '{"url" "s3://photos/3.jpg"}\n{"url": "s3://photos/4.jpg"}\n'
    )
    found = errors(read_manifest(write(tmp_path, "m.jsonl", text)))
    assert {row: (e.field, e.reason) for row, e in found.items()} == {
        2: ("line", "invalid JSON at line 3, column 12: Expecting value"),
        3: ("line", "invalid JSON at line 4, column 8: Expecting ':' delimiter"),
    }


def test_csv_json_cell_error_has_line_and_column_in_the_cell(tmp_path: Path) -> None:
    text = (
        "url,client_metadata\n"
        's3://photos/1.jpg,"{""split"": train}"\n'
        's3://photos/2.jpg,"{""a"": 1,\n""b"" 2}"\n'
        's3://photos/3.jpg,"{""a"": 1}"\n'
    )
    found = errors(read_manifest(write(tmp_path, "m.csv", text)))
    assert {row: (e.field, e.reason) for row, e in found.items()} == {
        2: (
            "client_metadata",
            "is not valid JSON at line 1, column 11 of the cell: Expecting value",
        ),
        3: (
            "client_metadata",
            "is not valid JSON at line 2, column 5 of the cell: Expecting ':' delimiter",
        ),
    }


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="nope.json: cannot open manifest"):
        read_manifest(tmp_path / "nope.json")


def test_text_mode_stream_is_refused() -> None:
    with pytest.raises(ManifestError, match="binary mode"):
        read_manifest(io.StringIO("[]"))


# --- streams and lifecycle -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.json", json.dumps(NATIVE)),
        ("m.jsonl", "\n".join(json.dumps(i) for i in NATIVE)),
        ("m.csv", "url,media_kind\ns3://photos/a.jpg,\ns3://photos/b,video\ns3://photos/c.txt,\n"),
        ("m.json", json.dumps({"images": [{"objectUrl": u["url"]} for u in NATIVE]})),
    ],
)
@pytest.mark.parametrize("chunk", [1, 5, 65536])
def test_non_seekable_stream_matches_file(
    tmp_path: Path, name: str, content: str, chunk: int
) -> None:
    path = write(tmp_path, name, content)
    from_path = summary(read_manifest(path))
    stream = OnlyRead(path.read_bytes(), chunk=chunk)
    assert summary(read_manifest(stream, name=f"prefix/{name}")) == from_path
    assert len(from_path) == 3


def test_seekable_stream_is_read_from_its_position() -> None:
    raw = io.BytesIO(b"junk" + json.dumps({"images": [], "upsert_metadata": True}).encode())
    raw.seek(4)
    manifest = read_manifest(raw, name="m.json")
    assert manifest.flags.upsert_metadata is True
    assert list(manifest) == []
    assert not raw.closed  # streams passed in are the caller's


def test_manifest_iterates_once_and_closes_its_file(tmp_path: Path) -> None:
    manifest = read_manifest(write(tmp_path, "n.json", NATIVE))
    assert len(list(manifest)) == 3
    with pytest.raises(ManifestError, match="only once"):
        list(manifest)
    with read_manifest(write(tmp_path, "n.json", NATIVE)) as again:
        assert again.format == "json"


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    rows = 200_000
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        out.write(",\n".join(f'{{"url": "s3://photos/dir/file-{i:07d}.jpg"}}' for i in range(rows)))
        out.write("\n]\n")
    tracemalloc.start()
    try:
        count = 0
        last = None
        for entry in read_manifest(path):
            count += 1
            last = entry
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == rows
    assert isinstance(last, ManifestItem) and last.row == rows
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --- media kind guessing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("s3://b/a.JPG", MediaKind.IMAGE),
        ("s3://b/dir.v2/a.heic", MediaKind.IMAGE),
        ("https://b.s3.amazonaws.com/a.mp4?X-Amz-Signature=x.png", MediaKind.VIDEO),
        ("https://b.s3.amazonaws.com/a.m4a#x", MediaKind.AUDIO),
        ("dir/report.pdf", MediaKind.PDF),
        ("notes.md", MediaKind.TEXT),
        ("data.csv", MediaKind.TEXT),
        ("s3://b/archive.zip", None),
        ("s3://b/dir.jpg/noext", None),
        ("s3://b/a?.png", MediaKind.IMAGE),  # s3:// keys are literal
        ("", None),
    ],
)
def test_guess_media_kind(url: str, kind: MediaKind | None) -> None:
    assert guess_media_kind(url) is kind


def test_encord_stream_keeps_memory_flat() -> None:
    rows = 60_000

    def chunks() -> Any:
        yield b'{"images": ['
        for i in range(rows):
            sep = b"," if i else b""
            yield sep + b'{"objectUrl": "s3://photos/%07d.jpg", "imageMetadata": {"width": 4}}' % i
        yield b'], "skip_duplicate_urls": true}'

    class Generated:
        """A non-seekable stream produced on the fly (never held whole in memory)."""

        def __init__(self) -> None:
            self._parts = chunks()
            self._buffer = b""

        def read(self, n: int) -> bytes:
            while len(self._buffer) < n:
                part = next(self._parts, None)
                if part is None:
                    break
                self._buffer += part
            data, self._buffer = self._buffer[:n], self._buffer[n:]
            return data

    tracemalloc.start()
    try:
        manifest = read_manifest(Generated(), name="big.json")
        count = sum(1 for entry in manifest if isinstance(entry, ManifestItem))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == rows
    assert manifest.ignored_flags == ["skip_duplicate_urls"]
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_encord_rows_in_a_bare_list_get_a_hint(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[{"objectUrl": "s3://b/a.jpg"}]', encoding="utf-8")
    with read_manifest(path) as manifest:
        (row,) = list(manifest)
    assert row.field == "url" and 'under {"images": [...]}' in row.reason
