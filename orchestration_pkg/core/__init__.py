"""Dagster-free core: config, manifests, URLs, storage protocol, catalog, probing, registration."""
