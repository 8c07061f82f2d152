"""Storage behind one small typed interface: SQLite (embedded default), Redis (several server
processes) and memory (tests)."""

from server.storage.base import AuditRecord, LedgerItem, Store
from server.storage.memory import MemoryStore
from server.storage.redis import RedisStore
from server.storage.sqlite import SQLiteStore

__all__ = [
    "AuditRecord",
    "LedgerItem",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "open_store",
]


def open_store(db: str, redis_url: str = "") -> Store:
    """The store the settings name: Redis when ``KEFU_REDIS_URL`` is set, else the ``KEFU_DB``
    file (``:memory:`` keeps nothing)."""
    if redis_url:
        return RedisStore(redis_url)
    return MemoryStore() if db == ":memory:" else SQLiteStore(db)
