"""``orchestration-pkg serve``: the signed-URL gateway as a Starlette app on uvicorn."""

from orchestration_pkg.server.app import create_app

__all__ = ["create_app"]
