"""Former home of the translator: ``WatchTranslator`` is :class:`CatalogTranslator` now."""

from orchestration_pkg.assets.translator import CatalogTranslator, is_watched

WatchTranslator = CatalogTranslator

__all__ = ["WatchTranslator", "is_watched"]
