"""Run the gateway on uvicorn (one process; its own access log, uvicorn's is off because
uvicorn's request line would print the query string, i.e. a link's signature)."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration_pkg.core.catalog import Catalog
    from orchestration_pkg.core.config import AppConfig


def serve(
    config: AppConfig, catalog: Catalog, host: str, port: int, *, log_level: str = "info"
) -> None:
    """Serve until SIGINT/SIGTERM."""
    import uvicorn

    from orchestration_pkg.server.app import create_app

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access = logging.getLogger("orchestration_pkg.gateway.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO if log_level in ("info", "debug") else logging.WARNING)
    access.propagate = False
    uvicorn.run(
        create_app(config, catalog),
        host=host,
        port=port,
        access_log=False,
        log_level="warning" if log_level == "info" else log_level,
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
