"""Amazon S3 and S3-compatible servers (MinIO, moto, ...): one bucket + optional prefix."""
