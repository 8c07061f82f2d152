"""Reply clocks through the real server: pushes in order, cleared on reply, KPIs, restarts."""

from __future__ import annotations

import aiohttp

from server.settings import parse_timers
from tests.helpers import FakeClock, client, make_config, running_server

FAST = parse_timers(
    {"taobao": {"warn_s": 0.2, "due_s": 0.4, "overdue_s": 0.6, "target_s": 0.4, "window": [0, 24]}}
)
LINE = {"type": "message", "conversation": "c1", "buyer": "tom"}


async def test_short_targets_push_in_order_then_cleared_and_the_api_agrees():
    clock, config = FakeClock(), make_config(timers=FAST)
    async with running_server(config, clock) as server, client(server.ws_url) as c:
        await c.request({**LINE, "id": "m1", "from": "buyer", "text": "在吗"})
        levels = [(await c.recv_type("timer"))["level"]]
        for _ in range(3):  # each threshold in turn, on the injected clock
            clock.jump(0.2)
            server.service.scheduler.poke()
            levels.append((await c.recv_type("timer"))["level"])
        assert levels == ["waiting", "warn", "due", "overdue"]
        clock.jump(0.1)
        await c.request({**LINE, "id": "m2", "from": "agent", "text": "您好，在的"})
        cleared = await c.recv_type("timer")
        kpi = await c.recv_type("kpi")
        assert (cleared["level"], cleared["waited_s"]) == ("cleared", 0.7)
        assert (kpi["rounds"], kpi["answered"], kpi["overdue"]) == (1, 1, 1)
        assert (kpi["within_target_rate"], kpi["misses_left"]) == (0.0, 0)
        headers = {"Authorization": "Bearer tok-a1"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.http_url}/api/kpi?date={kpi['date']}", headers=headers) as r,
        ):
            assert await r.json() == {k: v for k, v in kpi.items() if k not in ("type", "seq")}


async def test_open_rounds_and_kpis_survive_a_restart(tmp_path):
    clock = FakeClock()
    config = make_config(db=str(tmp_path / "kefu.db"))
    async with running_server(config, clock) as server, client(server.ws_url) as c:
        await c.request({**LINE, "id": "m1", "from": "buyer", "text": "在吗"})
        started = (await c.recv_type("timer"))["started_at"]
    clock.jump(12)  # down for 12 s: past the Taobao warning (10 s), not yet due (15 s)
    async with running_server(config, clock) as server, client(server.ws_url) as c:
        (waiting,) = c.state["conversations"]
        assert (waiting["conversation"], waiting["started_at"]) == ("c1", started)
        # The warning fell due while the server was down: it fired at start-up.
        assert (waiting["level"], waiting["waited_s"]) == ("warn", 12.0)
        assert c.state["kpi"]["rounds"] == 1
        clock.jump(3)
        server.service.scheduler.poke()
        due = await c.recv_type("timer")
        assert (due["level"], due["waited_s"]) == ("due", 15.0)
