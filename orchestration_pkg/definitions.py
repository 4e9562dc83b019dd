"""Dagster ``Definitions`` of orchestration_pkg, loaded by workspace.yaml (``defs``).

The config comes from ``$ORCHESTRATION_PKG_CONFIG``, else ./orchestration_pkg.yaml. To embed
the definitions in your own project, call :func:`orchestration_pkg.build_definitions`.
"""

from __future__ import annotations

from orchestration_pkg.factory import REGISTER_JOB, build_definitions

__all__ = ["REGISTER_JOB", "build_definitions", "defs"]

defs = build_definitions()
