"""Export a folder in a labeling tool's import format (Encord, Labelbox, Ango, Label Studio,
CVAT) or our own, streamed: rows come from the catalog page by page (:mod:`.rows`), each
gets its URL (:mod:`.urls`: canonical, presigned or a gateway link) and is written at once by
its format (:mod:`.formats`), so memory does not grow with the folder."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from orchestration_pkg.core.errors import ConfigError
from orchestration_pkg.core.export.formats import FORMATS
from orchestration_pkg.core.export.rows import RowFilter, count_rows, iter_rows
from orchestration_pkg.core.export.urls import (
    CanonicalUrls,
    GatewayUrls,
    SignedUrls,
    UrlMode,
)
from orchestration_pkg.core.gateway.links import LinkSigner

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import AppConfig

PROGRESS_EVERY = 1000

__all__ = ["FORMATS", "ExportOptions", "ExportResult", "RowFilter", "export_folder"]


@dataclass
class ExportOptions:
    """What to write: the format, which URLs (``ttl`` in seconds, already clamped: signed
    URLs' lifetime or gateway links'), the gateway's base URL, and which rows."""

    format: str
    urls: UrlMode = "canonical"
    ttl: int = 3600
    gateway_url: str | None = None
    where: RowFilter = field(default_factory=RowFilter)


@dataclass
class ExportResult:
    """What an export did: rows matched, written, skipped (by reason), notes, unsigned URLs."""

    folder: str
    format: str
    urls: str
    matched: int = 0
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    unsigned: int = 0
    seconds: float = 0.0


def _url_maker(
    config: AppConfig, folder: str, options: ExportOptions
) -> CanonicalUrls | SignedUrls | GatewayUrls:
    if options.urls == "signed":
        return SignedUrls(config, options.ttl)
    if options.urls == "gateway":
        base = options.gateway_url or config.gateway.public_url
        if not base:
            raise ConfigError("--urls gateway needs --gateway-url or gateway.public_url")
        keys = config.gateway.keys()
        if not keys:
            raise ConfigError(
                "--urls gateway needs a signing key: gateway.signing_keys in the config or "
                "$ORCHESTRATION_PKG_GATEWAY_KEY (at least 32 characters)"
            )
        return GatewayUrls(LinkSigner(base, keys[0]), folder, int(time.time()) + options.ttl)
    return CanonicalUrls(config)


def export_folder(
    config: AppConfig,
    catalog: Catalog,
    folder: str,
    options: ExportOptions,
    out: TextIO,
    *,
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write ``folder`` to ``out``; ``NotFoundError`` for an unknown folder, ``ConfigError``
    for a bad URL set-up (both before anything is written)."""
    if options.format not in FORMATS:
        raise ConfigError(f"unknown format '{options.format}' (known: {', '.join(FORMATS)})")
    fmt_class = FORMATS[options.format]
    if fmt_class.url_style == "none" and options.urls != "canonical":
        raise ConfigError(f"--format {options.format} names files, not URLs: drop --urls")
    folder_id = catalog.get_folder(folder).id
    urls = _url_maker(config, folder, options)
    result = ExportResult(folder=folder, format=options.format, urls=options.urls)
    started = time.perf_counter()
    if on_total is not None:
        on_total(count_rows(catalog, folder_id, options.where))
    fmt = fmt_class(out, folder)
    fmt.open()
    style = fmt_class.url_style
    try:
        for row in iter_rows(catalog, folder_id, options.where):
            result.matched += 1
            reason = fmt.skip_reason(row)
            if reason is not None:
                result.skipped[reason] += 1
            else:
                fmt.add(row, "" if style == "none" else urls.url(row, style))
            if progress is not None and result.matched % PROGRESS_EVERY == 0:
                progress(result.matched)
        fmt.close()
    except BaseException:
        discard = getattr(fmt, "discard", None)
        if discard is not None:
            discard()
        raise
    if progress is not None:
        progress(result.matched)
    result.written = fmt.written
    result.notes = fmt.notes
    result.unsigned = getattr(urls, "unsigned", 0)
    result.seconds = time.perf_counter() - started
    return result
