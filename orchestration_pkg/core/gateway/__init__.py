"""The signed-URL gateway's core (no HTTP): config, HMAC links, bearer tokens in the catalog,
the lookup that turns a request into a presigned URL, and the per-token rate limit. The
Starlette app around it lives in :mod:`orchestration_pkg.server`."""
