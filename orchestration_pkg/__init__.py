"""orchestration_pkg: register files from private cloud buckets into a catalog, never copied."""

__version__ = "0.1.0"
