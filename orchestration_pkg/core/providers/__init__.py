"""One package per storage provider (urls, errors, storage, access, config) and their registry.

Importing this package or a provider's ``config`` module never imports a cloud SDK: storage
classes and Dagster resources are loaded on first use through :mod:`.registry`.
"""
