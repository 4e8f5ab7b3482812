"""One small module per outside system: verify what it sends us, parse it, fetch from it, push to it.

Nothing here knows about views, models or the database: a module takes a provider's settings
(`[providers.NAME]` from config.toml, read into a ProviderSettings, secrets already resolved) and plain
values, and answers with plain dataclasses or raises `ProviderError` (see `http.py`). Services decide what
to store.

    http.py              the one HTTP client (httpx, connections reused) with provider-friendly errors
    oauth.py             an in-memory, thread-safe cache of OAuth client-credentials tokens
    carriers/            tracking providers: easypost, shippo, aftership, ups, fedex, usps
"""
