"""orchestration_pkg: register files from private cloud buckets into a catalog without copying them."""

__version__ = "0.1.0"
