"""``--verify-metadata``: compare what a manifest says with what probing found."""

from __future__ import annotations

from typing import Any

from orchestration_pkg.core.models import MediaMetadata

# field → relative tolerance (0 = exact); names as users write them in Encord manifests
_FIELDS: dict[str, tuple[str, float]] = {
    "width": ("width", 0.0),
    "height": ("height", 0.0),
    "file_size": ("fileSize", 0.0),
    "duration": ("duration", 0.02),
    "fps": ("fps", 0.01),
    "sample_rate": ("sampleRate", 0.0),
    "num_channels": ("numChannels", 0.0),
    "bit_depth": ("bitDepth", 0.0),
}


def metadata_mismatches(given: MediaMetadata, probed: dict[str, Any]) -> list[str]:
    """One message per field the manifest gives that disagrees with the probed value."""
    out = []
    for field, (name, tolerance) in _FIELDS.items():
        said, found = getattr(given, field), probed.get(field)
        if said is None or found is None:
            continue
        if abs(float(said) - float(found)) > tolerance * max(abs(float(found)), 1e-9):
            out.append(f"verify: {name} is {said:g} in the manifest but {found:g} in the object")
    mime = given.mime_type
    if mime and probed.get("mime_type") and mime.lower() != str(probed["mime_type"]).lower():
        out.append(f"verify: mimeType is {mime} in the manifest but {probed['mime_type']}")
    return out
