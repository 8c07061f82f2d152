"""The embedded store: one SQLite file in WAL mode, written by one thread with group commit.

Every operation (reads too, so they see every earlier write) goes through one queue to one
thread, which runs whatever is waiting in a single transaction and commits once with
``synchronous=FULL``: a burst of clock updates costs one fsync, and an order is acknowledged only
after the commit that holds it. Each write runs in its own savepoint, so one failing write
does not undo the others in its batch (a read needs none), and the loop is woken once per batch
to settle every operation's future.

The file must stay the one opened: after every commit the writer checks that the file and its
directory are still there with the same device and inode. If the data directory was removed or
the file replaced, the commit went into a deleted file, so the batch fails with
``store_unavailable`` (nothing in it is acknowledged), an error is logged, and every later
operation fails the same way until the process is restarted on a real file. Start-up refuses a
directory it cannot write, and a database, ``-wal`` or ``-shm`` file that is not a writable regular
file: SQLite maps ``-shm`` into memory, and writing such a mapping kills the process with SIGBUS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge
from server.core.nudges import FiredNudge, Order, OrderStatus
from server.core.tracker import Conversation
from server.errors import StoreError
from server.storage.base import AuditRecord, LedgerItem, Store
from server.storage.futures import log_unawaited_failure, settle

log = logging.getLogger("kefu.store")

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]


class _Job(NamedTuple):
    operation: Operation
    future: asyncio.Future[Any]
    read: bool  # runs without a savepoint of its own


Settlements = list[tuple[asyncio.Future[Any], Any, BaseException | None]]  # future, result, error
Identity = tuple[tuple[int, int], tuple[int, int]]  # (device, inode) of the file, its directory

MIGRATIONS: tuple[str, ...] = (
    # 1: conversations, KPIs, audit trail, phrase usage
    """
    CREATE TABLE conversations (
        shop TEXT NOT NULL, conversation TEXT NOT NULL, buyer TEXT NOT NULL,
        platform TEXT NOT NULL, agent TEXT NOT NULL, round_started_at REAL,
        stage INTEGER NOT NULL, decided INTEGER NOT NULL, first_round INTEGER NOT NULL,
        asked_at REAL, PRIMARY KEY (shop, conversation));
    CREATE INDEX conversations_open ON conversations (round_started_at, asked_at);
    CREATE TABLE kpi (
        shop TEXT NOT NULL, agent TEXT NOT NULL, date TEXT NOT NULL,
        rounds INTEGER NOT NULL, answered INTEGER NOT NULL, decided INTEGER NOT NULL,
        within_target INTEGER NOT NULL, overdue INTEGER NOT NULL, response_sum_s REAL NOT NULL,
        first_rounds INTEGER NOT NULL, first_response_sum_s REAL NOT NULL,
        longest_wait_s REAL NOT NULL, outside_window INTEGER NOT NULL,
        PRIMARY KEY (shop, agent, date));
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, shop TEXT NOT NULL, agent TEXT NOT NULL,
        conversation TEXT, kind TEXT NOT NULL, rules TEXT NOT NULL, categories TEXT NOT NULL,
        severity TEXT NOT NULL, text TEXT NOT NULL);
    CREATE INDEX audit_shop_ts ON audit (shop, ts);
    CREATE TABLE usage (
        shop TEXT NOT NULL, phrase TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (shop, phrase));
    """,
    # 2: orders and their nudges
    """
    CREATE TABLE orders (
        shop TEXT NOT NULL, order_id TEXT NOT NULL, buyer TEXT NOT NULL, conversation TEXT,
        status TEXT NOT NULL, amount TEXT, created_at REAL NOT NULL, closes_at REAL NOT NULL,
        updated_at REAL NOT NULL, paid_at REAL, PRIMARY KEY (shop, order_id));
    CREATE INDEX orders_closes_at ON orders (closes_at);
    CREATE TABLE nudges (
        shop TEXT NOT NULL, id TEXT NOT NULL, order_id TEXT NOT NULL, attempt INTEGER NOT NULL,
        kind TEXT NOT NULL, due_at REAL NOT NULL, state TEXT NOT NULL, agent TEXT,
        delivered_at REAL, fired_at REAL, outcome TEXT, closed_at REAL, waiting INTEGER NOT NULL,
        PRIMARY KEY (shop, id),
        FOREIGN KEY (shop, order_id) REFERENCES orders (shop, order_id));
    CREATE INDEX nudges_state ON nudges (state);
    CREATE INDEX nudges_fired ON nudges (shop, fired_at);
    """,
    # 3: the penalties ledger and open process deadlines
    """
    CREATE TABLE ledger (
        shop TEXT NOT NULL, month TEXT NOT NULL, agent TEXT NOT NULL, rule TEXT NOT NULL,
        count INTEGER NOT NULL, yuan INTEGER NOT NULL, points INTEGER NOT NULL,
        PRIMARY KEY (shop, month, agent, rule));
    CREATE TABLE deadlines (
        shop TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, agent TEXT NOT NULL,
        started_at REAL NOT NULL, due_at REAL NOT NULL, PRIMARY KEY (shop, kind, key));
    """,
)

_ORDER_COLUMNS = (
    "shop, order_id, buyer, conversation, status, amount, created_at, closes_at, updated_at,"
    " paid_at"
)
_NUDGE_COLUMNS = (  # in the order of Nudge's fields
    "id, shop, order_id, attempt, kind, due_at, state, agent, delivered_at, fired_at, outcome,"
    " closed_at, waiting"
)

_CONVERSATION_COLUMNS = (
    "shop, conversation, buyer, platform, agent, round_started_at, stage, decided, first_round,"
    " asked_at"
)
_KPI_COLUMNS = (
    "shop, agent, date, rounds, answered, decided, within_target, overdue, response_sum_s,"
    " first_rounds, first_response_sum_s, longest_wait_s, outside_window"
)


class SQLiteStore(Store):
    def __init__(self, path: str) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._identity: Identity | None = None
        self._failure: StoreError | None = None  # set once the file is gone; sticky

    @property
    def problem(self) -> str | None:
        return None if self._failure is None else str(self._failure)

    # --- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._writer, args=(ready,), name="kefu-sqlite", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def integrity_check(self) -> str:
        return await self._submit(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])

    # --- the writer thread ------------------------------------------------------------------

    def _identify(self) -> Identity:
        file = os.stat(self.path)
        directory = os.stat(os.path.dirname(os.path.abspath(self.path)))
        return (file.st_dev, file.st_ino), (directory.st_dev, directory.st_ino)

    def _preflight(self) -> None:
        """Refuse what would lose writes or crash the process, before SQLite opens anything."""
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise StoreError(f"sqlite store {self.path!r}: directory {directory!r} does not exist")
        probe = os.path.join(directory, f".{os.path.basename(self.path)}.probe-{os.getpid()}")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.unlink(probe)
        except OSError as exc:
            raise StoreError(
                f"sqlite store {self.path!r}: cannot create files in {directory!r} "
                f"({exc.strerror.lower() if exc.strerror else exc}); SQLite needs its -wal and "
                "-shm files there"
            ) from None
        for path in (self.path, self.path + "-wal", self.path + "-shm"):
            if not os.path.lexists(path):
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError as exc:
                reason = exc.strerror.lower() if exc.strerror else str(exc)
            else:
                regular = os.path.isfile(path)
                os.close(fd)
                if regular:
                    continue
                reason = "not a regular file"
            raise StoreError(
                f"sqlite store {self.path!r}: {path!r} is not writable ({reason}); a -shm SQLite "
                "cannot write kills the process (SIGBUS): fix its permissions or remove it while "
                "no server runs"
            )

    def _connect(self) -> sqlite3.Connection:
        self._preflight()
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path!r} has schema version {version}, newer than this server's "
                f"{len(MIGRATIONS)}"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
            log.info("store migrated", extra={"schema_version": number})
        self._identity = self._identify()
        return db

    def _writer(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            db = self._connect()
        except (sqlite3.Error, OSError, StoreError) as exc:
            error: StoreError = exc if isinstance(exc, StoreError) else _store_error(self.path, exc)
            self._loop.call_soon_threadsafe(settle, ready, None, error)
            return
        self._loop.call_soon_threadsafe(settle, ready, None, None)
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if None in batch:
                stopping = True
            self._run_batch(db, [item for item in batch if item is not None])
        db.close()

    def _run_batch(self, db: sqlite3.Connection, batch: list[_Job]) -> None:
        assert self._loop is not None
        results: Settlements = []
        if self._failure is not None:
            failed: Settlements = [(job.future, None, self._failure) for job in batch]
            self._loop.call_soon_threadsafe(_settle_all, failed)
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            for operation, future, read in batch:
                if read:  # nothing to undo: no savepoint (two statements per lookup saved)
                    try:
                        results.append((future, operation(db), None))
                    except sqlite3.Error as exc:
                        results.append((future, None, _store_error(self.path, exc)))
                    continue
                db.execute("SAVEPOINT op")
                try:
                    result = operation(db)
                except sqlite3.Error as exc:
                    db.execute("ROLLBACK TO op")
                    results.append((future, None, _store_error(self.path, exc)))
                else:
                    results.append((future, result, None))
                db.execute("RELEASE op")
            if not self._still_there():  # checked before and after: a commit in between is lost
                db.execute("ROLLBACK")
            else:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = _store_error(self.path, exc)
            results = [(job.future, None, failure) for job in batch]
        if self._failure is not None or not self._still_there():
            results = [(job.future, None, self._failure) for job in batch]
        # One wake-up of the loop for the whole batch: a buyer line's lookup is one of dozens
        # in a batch under load, and each call_soon_threadsafe is a write to the loop's pipe.
        self._loop.call_soon_threadsafe(_settle_all, results)

    def _still_there(self) -> bool:
        """Whether the file committed to is still the one opened; if not, fail from now on."""
        try:
            same = self._identify() == self._identity
        except OSError:
            same = False
        if not same:
            self._failure = StoreError(
                f"sqlite store {self.path!r} was removed or replaced while open: "
                "refusing writes that would be lost; restart the server"
            )
            log.error("store file gone", extra={"path": self.path})
        return same

    def _submit(
        self, operation: Callable[[sqlite3.Connection], T], read: bool = False
    ) -> asyncio.Future[T]:
        if self._loop is None or self._thread is None:
            raise StoreError(f"store {self.path!r} is not open")
        future: asyncio.Future[T] = self._loop.create_future()
        future.add_done_callback(log_unawaited_failure)
        self._queue.put(_Job(operation, future, read))
        return future

    def _write(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        def operation(db: sqlite3.Connection) -> None:
            db.execute(sql, params)

        return self._submit(operation)

    def _write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> asyncio.Future[None]:
        """One operation for many rows: one savepoint, one future, one wake-up of the loop."""

        def operation(db: sqlite3.Connection) -> None:
            db.executemany(sql, rows)

        return self._submit(operation)

    async def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self._submit(lambda db: db.execute(sql, params).fetchall(), read=True)

    # --- conversations ----------------------------------------------------------------------

    def save_conversations(self, convs: Sequence[Conversation]) -> Awaitable[None]:
        return self._write_many(
            f"INSERT OR REPLACE INTO conversations ({_CONVERSATION_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            [_conversation_row(conv) for conv in convs],
        )

    async def load_conversations(self, shop: str | None = None) -> list[Conversation]:
        rows = await self._read(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "WHERE (round_started_at IS NOT NULL OR asked_at IS NOT NULL) "
            "AND (? IS NULL OR shop = ?)",
            (shop, shop),
        )
        return [_conversation(row) for row in rows]

    async def load_conversation(self, shop: str, conversation: str) -> Conversation | None:
        rows = await self._read(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "WHERE shop = ? AND conversation = ?",
            (shop, conversation),
        )
        return _conversation(rows[0]) if rows else None

    # --- KPIs -------------------------------------------------------------------------------

    def save_kpis(self, kpis: Sequence[KpiDay]) -> Awaitable[None]:
        return self._write_many(
            f"INSERT OR REPLACE INTO kpi ({_KPI_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [_kpi_row(kpi) for kpi in kpis],
        )

    async def load_kpis(self, shop: str | None, date: str) -> list[KpiDay]:
        rows = await self._read(
            f"SELECT {_KPI_COLUMNS} FROM kpi WHERE date = ? AND (? IS NULL OR shop = ?) "
            "ORDER BY shop, agent",
            (date, shop, shop),
        )
        return [KpiDay(*row) for row in rows]

    # --- audit ------------------------------------------------------------------------------

    def add_audit(self, record: AuditRecord) -> Awaitable[None]:
        row = (
            record.ts, record.shop, record.agent, record.conversation, record.kind,
            orjson.dumps(record.rules).decode(), orjson.dumps(record.categories).decode(),
            record.severity, record.text,
        )  # fmt: skip
        return self._write(
            "INSERT INTO audit (ts, shop, agent, conversation, kind, rules, categories,"
            " severity, text) VALUES (?,?,?,?,?,?,?,?,?)",
            row,
        )

    async def list_audit(self, shop: str, since: float, until: float) -> list[AuditRecord]:
        rows = await self._read(
            "SELECT ts, shop, agent, conversation, kind, rules, categories, severity, text "
            "FROM audit WHERE shop = ? AND ts >= ? AND ts < ? ORDER BY ts, id",
            (shop, since, until),
        )
        return [
            AuditRecord(ts, s, a, c, k, tuple(orjson.loads(r)), tuple(orjson.loads(cat)), sev, t)
            for ts, s, a, c, k, r, cat, sev, t in rows
        ]

    # --- usage ------------------------------------------------------------------------------

    def add_usage(self, shop: str, phrase: str) -> Awaitable[None]:
        return self._write(
            "INSERT INTO usage (shop, phrase, count) VALUES (?, ?, 1) "
            "ON CONFLICT (shop, phrase) DO UPDATE SET count = count + 1",
            (shop, phrase),
        )

    async def load_usage(self) -> dict[str, dict[str, int]]:
        rows = await self._read("SELECT shop, phrase, count FROM usage")
        usage: dict[str, dict[str, int]] = {}
        for shop, phrase, count in rows:
            usage.setdefault(shop, {})[phrase] = count
        return usage

    # --- penalties ---------------------------------------------------------------------------

    def save_ledger(self, items: Sequence[LedgerItem]) -> Awaitable[None]:
        rows = [(i.shop, i.month, i.agent, i.rule, i.count, i.yuan, i.points) for i in items]

        def operation(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO ledger VALUES (?,?,?,?,?,?,?)", rows)

        return self._submit(operation)

    async def load_ledger(self, shop: str | None, month: str) -> list[LedgerItem]:
        rows = await self._read(
            "SELECT shop, month, agent, rule, count, yuan, points FROM ledger "
            "WHERE month = ? AND (? IS NULL OR shop = ?) ORDER BY shop, agent, rule",
            (month, shop, shop),
        )
        return [LedgerItem(*row) for row in rows]

    def save_deadlines(
        self, shop: str, opened: Sequence[Clock], closed: Sequence[tuple[str, str]]
    ) -> Awaitable[None]:
        gone = [(shop, kind, key) for kind, key in closed]
        rows = [(shop, c.kind, c.key, c.agent, c.started_at, c.due_at) for c in opened]

        def operation(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM deadlines WHERE shop = ? AND kind = ? AND key = ?", gone)
            db.executemany("INSERT OR REPLACE INTO deadlines VALUES (?,?,?,?,?,?)", rows)

        return self._submit(operation)

    async def load_deadlines(self, shop: str | None = None) -> list[tuple[str, Clock]]:
        rows = await self._read(
            "SELECT shop, kind, key, agent, started_at, due_at FROM deadlines "
            "WHERE ? IS NULL OR shop = ?",
            (shop, shop),
        )
        return [(row[0], Clock(*row[1:])) for row in rows]

    # --- orders and nudges ------------------------------------------------------------------

    def save_nudges(self, nudges: Sequence[Nudge], order: Order | None) -> Awaitable[None]:
        order_row = None if order is None else (
            order.shop, order.order, order.buyer, order.conversation, str(order.status),
            order.amount, order.created_at, order.closes_at, order.updated_at, order.paid_at,
        )  # fmt: skip
        nudge_rows = [
            (
                n.id,
                n.shop,
                n.order,
                n.attempt,
                n.kind,
                n.due_at,
                n.state,
                n.agent,
                n.delivered_at,
                n.fired_at,
                n.outcome,
                n.closed_at,
                n.waiting,
            )  # fmt: skip
            for n in nudges
        ]

        def operation(db: sqlite3.Connection) -> None:
            if order_row is not None:
                db.execute(
                    f"INSERT OR REPLACE INTO orders ({_ORDER_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    order_row,
                )
            db.executemany(
                f"INSERT OR REPLACE INTO nudges ({_NUDGE_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                nudge_rows,
            )

        return self._submit(operation)

    def claim_delivery(self, nudge: Nudge) -> Awaitable[bool]:
        row = (
            nudge.state, nudge.agent, nudge.delivered_at, nudge.fired_at, nudge.outcome,
            nudge.closed_at, nudge.waiting, nudge.due_at, nudge.shop, nudge.id, nudge.fired_at,
        )  # fmt: skip

        def operation(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE nudges SET state = ?, agent = ?, delivered_at = ?, fired_at = ?,"
                " outcome = ?, closed_at = ?, waiting = ?, due_at = ?"
                " WHERE shop = ? AND id = ? AND (fired_at IS NULL OR fired_at = ?)",
                row,
            )
            return cursor.rowcount == 1

        return self._submit(operation)

    async def load_orders(self, open_at: float, shop: str | None = None) -> list[Order]:
        rows = await self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE closes_at > ? AND (? IS NULL OR shop = ?)",
            (open_at, shop, shop),
        )
        return [_order(row) for row in rows]

    async def load_order(self, shop: str, order: str) -> Order | None:
        rows = await self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE shop = ? AND order_id = ?", (shop, order)
        )
        return _order(rows[0]) if rows else None

    async def load_open_nudges(self, shop: str | None = None) -> list[Nudge]:
        rows = await self._read(
            f"SELECT {_NUDGE_COLUMNS} FROM nudges "
            "WHERE state != 'done' AND (? IS NULL OR shop = ?)",
            (shop, shop),
        )
        return [_nudge(row) for row in rows]

    async def load_nudge_history(
        self, shop: str, since: float
    ) -> tuple[list[Order], list[FiredNudge]]:
        fired = await self._read(
            "SELECT shop, order_id, fired_at FROM nudges WHERE shop = ? AND fired_at >= ?",
            (shop, since),
        )
        orders = await self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE shop = ? AND order_id IN "
            "(SELECT order_id FROM nudges WHERE shop = ? AND fired_at >= ?)",
            (shop, shop, since),
        )
        return [_order(row) for row in orders], [FiredNudge(*row) for row in fired]


def _settle_all(results: Settlements) -> None:
    for future, result, error in results:
        settle(future, result, error)


def _conversation_row(conv: Conversation) -> tuple[Any, ...]:
    return (
        conv.shop, conv.conversation, conv.buyer, conv.platform, conv.agent,
        conv.round_started_at, conv.stage, conv.decided, conv.first_round, conv.asked_at,
    )  # fmt: skip


def _kpi_row(kpi: KpiDay) -> tuple[Any, ...]:
    return (
        kpi.shop, kpi.agent, kpi.date, kpi.rounds, kpi.answered, kpi.decided,
        kpi.within_target, kpi.overdue, kpi.response_sum_s, kpi.first_rounds,
        kpi.first_response_sum_s, kpi.longest_wait_s, kpi.outside_window,
    )  # fmt: skip


def _conversation(row: tuple[Any, ...]) -> Conversation:
    shop, conversation, buyer, platform, agent, started, stage, decided, first, asked = row
    return Conversation(
        shop, conversation, buyer, platform, agent, started, stage, bool(decided), bool(first),
        asked,
    )  # fmt: skip


def _order(row: tuple[Any, ...]) -> Order:
    shop, order, buyer, conversation, status, amount, created, closes, updated, paid = row
    return Order(
        shop, order, buyer, conversation, OrderStatus(status), amount, created, closes, updated,
        paid,
    )  # fmt: skip


def _nudge(row: tuple[Any, ...]) -> Nudge:
    nudge = Nudge(*row)
    nudge.waiting = bool(nudge.waiting)  # SQLite keeps booleans as integers
    return nudge


def _store_error(path: str, exc: sqlite3.Error | OSError) -> StoreError:
    return StoreError(f"sqlite store {path!r} failed: {str(exc).lower()}")
