"""Run the gateway on uvicorn (its own access log; uvicorn's is off because uvicorn's request
line would print the query string, i.e. a link's signature).

The access log is written for every request, so its cost is kept small (measured: ~13 µs a
line with a plain ``StreamHandler`` on stderr, the size of the whole redirect): the time text
is made once a second, lines go to a buffered copy of stderr flushed by a thread every
:data:`FLUSH_S` (not a write system call per line), the gateway's own access lines are handed
to that handler as text (no ``LogRecord`` each), and the process records no caller
file/line, thread or process names (nothing here prints them).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import AppConfig

FLUSH_S = 0.5
ACCESS_LOGGER = "orchestration_pkg.gateway.access"


class SecondFormatter(logging.Formatter):
    """``%(asctime)s %(message)s`` (``2026-12-02 17:50:01,123 …``), the date text once a second."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s")
        self._second = -1
        self._text = ""

    def format(self, record: logging.LogRecord) -> str:
        return self.line(record.created, record.getMessage())

    def line(self, created: float, message: str) -> str:
        second = int(created)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return f"{self._text},{int((created - second) * 1000):03d} {message}"


class BufferedLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line without flushing; a daemon thread flushes every ``interval`` s, and
    ``close`` flushes what is left."""

    def __init__(self, stream: TextIO, interval: float = FLUSH_S) -> None:
        super().__init__(stream)
        self._stop = threading.Event()
        self._interval = interval
        threading.Thread(target=self._flusher, name="access-log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own convention
            self.handleError(record)

    def write_message(self, message: str) -> None:
        """Write ``message`` as :meth:`emit` would a record of it, without making the record
        (the gateway's access lines: ``serve`` routes them here, see ``access_log_handler``)."""
        formatter = self.formatter
        assert isinstance(formatter, SecondFormatter)
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(formatter.line(time.time(), message) + "\n")

    def _flusher(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


def _stderr_copy() -> TextIO:
    """A block-buffered text stream on stderr's file (``sys.stderr`` flushes every line)."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return sys.stderr
    return open(fd, "w", buffering=1 << 16, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115


def access_log_handler(log_level: str, stream: TextIO | None = None) -> BufferedLineHandler:
    """Attach the gateway's access-log handler (``stream``, default a buffered copy of
    stderr) and return it."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup per record (the logging HOWTO's optimisation)
    handler = BufferedLineHandler(stream or _stderr_copy())
    handler.setFormatter(SecondFormatter())
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(handler)
    access.setLevel(logging.INFO if log_level in ("info", "debug") else logging.WARNING)
    access.propagate = False
    from orchestration_pkg.server import app as app_module

    app_module.access_sink = handler.write_message  # lines straight to it, no LogRecord
    return handler


def serve(
    config: AppConfig, catalog: Catalog, host: str, port: int, *, log_level: str = "info"
) -> None:
    """Serve until SIGINT/SIGTERM."""
    import uvicorn

    from orchestration_pkg.server.app import create_app

    handler = access_log_handler(log_level)
    app: Any = create_app(config, catalog)
    gc.collect()
    gc.freeze()  # start-up's objects (SDKs, SQLAlchemy) leave the collector's full scans
    try:
        uvicorn.run(app, **uvicorn_options(host, port, log_level))
    finally:
        app.close()
        from orchestration_pkg.server import app as app_module

        app_module.access_sink = None
        logging.getLogger(ACCESS_LOGGER).removeHandler(handler)
        handler.close()


def uvicorn_options(host: str, port: int, log_level: str = "warning") -> dict[str, Any]:
    """The uvicorn settings of ``serve`` (the bench's bare handler runs with the same):
    httptools and uvloop when installed (uvicorn's ``auto``), no access log, no
    ``Server`` header, no proxy-header middleware, no lifespan."""
    return {
        "host": host,
        "port": port,
        "access_log": False,
        "log_level": "warning" if log_level == "info" else log_level,
        "server_header": False,
        "proxy_headers": False,
        "lifespan": "off",
    }
