"""Export formats, one module each; :data:`FORMATS` maps the ``--format`` names to them."""

from __future__ import annotations

from orchestration_pkg.core.export.formats.ango import AngoFormat
from orchestration_pkg.core.export.formats.base import ExportFormat
from orchestration_pkg.core.export.formats.cvat import CvatFormat
from orchestration_pkg.core.export.formats.encord import EncordFormat
from orchestration_pkg.core.export.formats.label_studio import LabelStudioFormat
from orchestration_pkg.core.export.formats.labelbox import LabelboxFormat
from orchestration_pkg.core.export.formats.native import NativeFormat

FORMATS: dict[str, type[ExportFormat]] = {
    f.name: f
    for f in (EncordFormat, LabelboxFormat, AngoFormat, LabelStudioFormat, CvatFormat, NativeFormat)
}

__all__ = ["FORMATS", "ExportFormat"]
