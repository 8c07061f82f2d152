"""Storage behind one small typed interface: SQLite (embedded default) and memory (tests)."""

from server.storage.base import AuditRecord, Store
from server.storage.memory import MemoryStore
from server.storage.sqlite import SQLiteStore

__all__ = [
    "AuditRecord",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "open_store",
]


def open_store(db: str) -> Store:
    """The store a ``KEFU_DB`` value names: ``:memory:`` keeps nothing, anything else is a file."""
    return MemoryStore() if db == ":memory:" else SQLiteStore(db)
