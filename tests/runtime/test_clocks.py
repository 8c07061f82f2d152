"""Reply clocks through the real server on an injected clock: pushes in order, cleared on reply,
KPIs, restarts."""

from __future__ import annotations

import aiohttp

from server.settings import parse_timers
from tests.helpers import FakeClock, client, make_config, running_server

# Thresholds no test waits for in real time: a push comes only because the injected clock
# passed one, and it must come within STEP_S of the move (the scheduler is not waited out).
SLOW = parse_timers(
    {"taobao": {"warn_s": 60, "due_s": 120, "overdue_s": 180, "target_s": 120, "window": [0, 24]}}
)
STEP_S = 1.0
LINE = {"type": "message", "conversation": "c1", "buyer": "tom"}


async def test_each_threshold_pushes_as_the_clock_passes_it_then_cleared_and_the_api_agrees():
    clock, config = FakeClock(), make_config(timers=SLOW)
    async with running_server(config, clock) as server, client(server.ws_url) as c:
        await c.request({**LINE, "id": "m1", "from": "buyer", "text": "在吗"})
        levels = [(await c.recv_type("timer"))["level"]]
        for _ in range(3):  # each threshold in turn, on the injected clock
            clock.jump(60)
            server.service.scheduler.poke()
            levels.append((await c.recv_type("timer", wait_s=STEP_S))["level"])
        assert levels == ["waiting", "warn", "due", "overdue"]
        clock.jump(30)
        await c.request({**LINE, "id": "m2", "from": "agent", "text": "您好，在的"})
        cleared = await c.recv_type("timer")
        kpi = await c.recv_type("kpi")
        assert (cleared["level"], cleared["waited_s"]) == ("cleared", 210.0)
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
        due = await c.recv_type("timer", wait_s=STEP_S)  # not the 3 s the loop's timer waits
        assert (due["level"], due["waited_s"]) == ("due", 15.0)
