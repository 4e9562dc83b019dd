"""Manifest file formats: a JSON array or Encord object, JSON Lines, CSV."""
