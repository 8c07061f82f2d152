"""Who is connected, and the one way frames reach them: per-agent ``seq``, replay, bounded queues.

Every frame the server sends to an agent's connection takes the next ``seq`` of that agent.
Pushes (frames for every connection of the agent) are also kept in a short replay ring, so a
client that reconnects with ``resume: <last seq>`` gets what it missed. ``seq`` starts at the
channel's creation time in microseconds, so a later process always numbers above an earlier one
and a resume from before a restart is recognised as such (the client is told to resynchronise).

Each connection writes through its own outbox. A client that stops reading lets bytes pile up
there and in its transport; past ``limit`` bytes it is dropped, so it can hold neither memory nor
the other clients' frames.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from server import protocol
from server.runtime.metrics import Metrics
from server.settings import Token

log = logging.getLogger("kefu.ws")

REPLAY_SIZE = 512


class Peer:
    """An authenticated agent connection as the service sees it: where its frames go.

    :class:`Session` is a websocket on this process; ``server.runtime.cluster.RemoteSession``
    is a websocket on another process of a Redis deployment, reached through it.
    """

    __slots__ = ("token", "platform", "channel", "closed")

    def __init__(self, token: Token, platform: str) -> None:
        self.token = token
        self.platform = platform
        self.channel: AgentChannel | None = None
        self.closed = False

    @property
    def shop(self) -> str:
        return self.token.shop

    @property
    def agent(self) -> str:
        return self.token.agent

    @property
    def id(self) -> str:
        raise NotImplementedError

    def enqueue(self, data: bytes, kind: str) -> None:
        """Send one encoded frame, in order, without waiting."""
        raise NotImplementedError

    def drop(self, code: int, reason: str) -> None:
        """Close the connection from outside its handler."""
        raise NotImplementedError

    def labels(self) -> dict[str, str]:
        return {"shop": self.shop, "agent": self.agent, "conn": self.id[:8]}


class Session(Peer):
    """One authenticated websocket connection on this process."""

    __slots__ = ("conn", "outbox", "pending", "draining", "in_handler", "limit", "metrics")

    def __init__(
        self, conn: ServerConnection, token: Token, platform: str, limit: int, metrics: Metrics
    ) -> None:
        super().__init__(token, platform)
        self.conn = conn
        self.outbox: deque[bytes] = deque()
        self.pending = 0  # bytes in the outbox
        self.draining = False
        self.in_handler = False  # the handler flushes when it is done: no writer task needed
        self.limit = limit
        self.metrics = metrics

    @property
    def id(self) -> str:
        return str(self.conn.id)

    def enqueue(self, data: bytes, kind: str) -> None:
        if self.closed:
            return
        self.metrics.sent(kind)
        self.pending += len(data)
        buffered = self.conn.transport.get_write_buffer_size() if self.conn.transport else 0
        if self.pending + buffered > self.limit:
            self.drop(protocol.CloseCode.POLICY, "client too slow")
            return
        self.outbox.append(data)
        if not self.draining and not self.in_handler:
            self.draining = True
            asyncio.get_running_loop().create_task(self._drain())

    def handling(self) -> Session:
        """``async with session.handling():`` around a handler: what it queues is sent after
        it, in its own task (no writer task). A class, not a generator context manager: this
        wraps every client frame, and the generator's frames cost 1.5 us of each."""
        return self

    async def __aenter__(self) -> None:
        self.in_handler = True

    async def __aexit__(self, *exc_info: object) -> None:
        await self.flush()

    async def flush(self) -> None:
        """Send what the handler queued, in the handler's own task."""
        self.in_handler = False
        if self.outbox and not self.draining:
            self.draining = True
            await self._drain()

    async def _drain(self) -> None:
        try:
            while self.outbox:
                frames = list(self.outbox)
                self.outbox.clear()
                self.pending -= sum(map(len, frames))
                await self._write(frames)
        except ConnectionClosed:
            self.closed = True
            self.outbox.clear()
        finally:
            self.draining = False

    async def _write(self, frames: list[bytes]) -> None:
        """Every queued frame in one transport write and one flow-control wait, where
        ``conn.send`` per frame made one of each per frame (a buyer line answers with two)."""
        conn = self.conn
        ready = conn.protocol.state is State.OPEN and not conn.paused
        if ready and not conn.transport.is_closing():
            # What send_context does when there is nothing to wait for and nothing to close,
            # without its async generator (created, registered with the loop's weak set of
            # generators, entered and finalised for every write: ~4% of a buyer line, issue 17).
            self._frame(conn, frames)
            return
        async with conn.send_context():  # websockets' own: state checks, drain, close on error
            self._frame(conn, frames)

    @staticmethod
    def _frame(conn: ServerConnection, frames: list[bytes]) -> None:
        protocol = conn.protocol
        for data in frames:
            protocol.send_text(data)
        conn.transport.write(b"".join(protocol.data_to_send()))

    def drop(self, code: int, reason: str) -> None:
        """Close from outside the connection's handler (e.g. while pushing to it)."""
        if not self.closed:
            asyncio.get_running_loop().create_task(self.close(code, reason))
            self.closed = True

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self.outbox.clear()
        self.pending = 0
        log.warning("dropping connection", extra={"code": code, "reason": reason, **self.labels()})
        await self.conn.close(code, reason)


class AgentChannel:
    """An agent's sequence numbers, replay ring and live connections."""

    __slots__ = ("seq", "ring", "evicted", "sessions")

    def __init__(self, first_seq: int) -> None:
        self.seq = first_seq
        self.ring: deque[tuple[int, bytes, str]] = deque(maxlen=REPLAY_SIZE)
        self.evicted = first_seq  # the newest seq that fell out of the ring
        self.sessions: set[Peer] = set()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class Registry:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.channels: dict[tuple[str, str], AgentChannel] = {}

    def channel(self, shop: str, agent: str) -> AgentChannel:
        channel = self.channels.get((shop, agent))
        if channel is None:
            # Numbered from the creation time in microseconds: above anything an earlier process
            # (or, in a cluster, the shop's previous owner) could have issued.
            first = int(self.clock() * 1_000_000)
            channel = self.channels[(shop, agent)] = AgentChannel(first)
        return channel

    def forget_shop(self, shop: str) -> list[Peer]:
        """Drop a shop's channels (its state moved to another process); return its peers."""
        peers: list[Peer] = []
        for key in [key for key in self.channels if key[0] == shop]:
            peers += self.channels.pop(key).sessions
        return peers

    def attach(self, session: Peer) -> AgentChannel:
        channel = self.channel(session.shop, session.agent)
        channel.sessions.add(session)
        session.channel = channel
        return channel

    def detach(self, session: Peer) -> None:
        if session.channel is not None:
            session.channel.sessions.discard(session)

    def push(self, shop: str, agent: str, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every connection of the agent, and keep it for replay."""
        channel = self.channel(shop, agent)
        frame["seq"] = channel.next_seq()
        data = protocol.encode(frame)
        kind = frame["type"]
        if len(channel.ring) == REPLAY_SIZE:
            channel.evicted = channel.ring[0][0]
        channel.ring.append((frame["seq"], data, kind))
        for session in channel.sessions:
            session.enqueue(data, kind)

    def reply(self, session: Peer, frame: dict[str, Any]) -> None:
        """Send ``frame`` to one connection only (answers to that connection's requests)."""
        assert session.channel is not None
        frame["seq"] = session.channel.next_seq()
        session.enqueue(protocol.encode(frame), frame["type"])

    def replay(self, channel: AgentChannel, after: int) -> list[tuple[int, bytes, str]] | None:
        """The pushes after seq ``after``, or None when they are no longer all kept."""
        if after > channel.seq:
            return None  # a seq this process never issued: from before a restart
        if after < channel.evicted:
            return None  # from before this process, or older than the ring keeps
        return [item for item in channel.ring if item[0] > after]

    def online_agents(self, shop: str) -> Iterator[str]:
        for (channel_shop, agent), channel in self.channels.items():
            if channel_shop == shop and channel.sessions:
                yield agent

    def sessions(self) -> Iterator[Peer]:
        for channel in self.channels.values():
            yield from channel.sessions
