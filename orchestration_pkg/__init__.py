"""orchestration_pkg: register files from private cloud buckets into a catalog, never copied.

``import orchestration_pkg`` is cheap: it loads neither Dagster nor a config. The Dagster
entry points resolve on first use (PEP 562): :func:`build_definitions`,
:class:`CatalogTranslator`, :class:`CatalogFolder`, :class:`CatalogFoldersComponent`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CatalogFolder", "CatalogFoldersComponent", "CatalogTranslator", "build_definitions"]

_LAZY = {
    "build_definitions": "orchestration_pkg.factory",
    "CatalogFoldersComponent": "orchestration_pkg.components",
    "CatalogTranslator": "orchestration_pkg.assets.translator",
    "CatalogFolder": "orchestration_pkg.assets.translator",
}

if TYPE_CHECKING:
    from orchestration_pkg.assets.translator import CatalogFolder, CatalogTranslator
    from orchestration_pkg.components import CatalogFoldersComponent
    from orchestration_pkg.factory import build_definitions


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orchestration_pkg' has no attribute {name!r}")
