"""Google Cloud Storage: one bucket + optional prefix."""
