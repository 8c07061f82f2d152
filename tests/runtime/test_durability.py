"""Nothing is acknowledged that is not durable: a store whose file went away refuses, loudly."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import aiohttp
import orjson
import pytest

from server.errors import StoreError
from server.storage import SQLiteStore
from tests.helpers import assert_error, client, make_config, running_server
from tests.runtime.test_nudges import post_order, signed

ORDER = {"type": "order", "buyer": "tom", "status": "created", "amount": "9.90"}


async def test_removing_the_data_directory_refuses_the_next_order_and_fails_healthz(
    tmp_path, caplog
):
    data, keep = tmp_path / "data", tmp_path / "keep"
    data.mkdir()
    keep.mkdir()
    db = data / "kefu.db"
    config = make_config(db=str(db), order_secrets={"shop-a": "s3cret"})
    async with running_server(config) as server, client(server.ws_url) as alice:
        acked = await alice.request({**ORDER, "id": "o1", "order": "1001"})
        assert acked["type"] == "ack"
        # Hard links keep the inodes the server writes to: what it acknowledged can be read back.
        for suffix in ("", "-wal"):
            os.link(f"{db}{suffix}", keep / f"kefu.db{suffix}")
        shutil.rmtree(data)
        with caplog.at_level(logging.ERROR, logger="kefu.store"):
            refused = await alice.request({**ORDER, "id": "o2", "order": "1002"})
        error = f"sqlite store {str(db)!r} was removed or replaced while open: " \
                "refusing writes that would be lost; restart the server"  # fmt: skip
        assert_error(refused, "store_unavailable", error, "o2")
        assert [r.getMessage() for r in caplog.records if r.name == "kefu.store"][0] == (
            "store file gone"
        )
        body = orjson.dumps({**ORDER, "order": "1003"})
        assert await post_order(server, body, signed(body, time.time())) == (
            503, {"type": "error", "code": "store_unavailable", "error": error},
        )  # fmt: skip
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.http_url + "/healthz") as resp,
        ):
            health = await resp.json()
        assert (resp.status, health["status"], health["store_error"]) == (503, "failing", error)
        # Still refusing (the failure is sticky), and the connection keeps being served.
        again = await alice.request({**ORDER, "id": "o4", "order": "1004"})
        assert again["code"] == "store_unavailable"
        assert (await alice.request({"type": "ping", "id": "p"}))["type"] == "pong"
    with sqlite3.connect(keep / "kefu.db") as kept:
        orders = kept.execute("SELECT order_id FROM orders ORDER BY order_id").fetchall()
    assert orders == [("1001",)]  # the one acknowledged order, and nothing refused


def serve_refused(tmp_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env={
            **os.environ,
            "KEFU_DB": str(tmp_path / "kefu.db"),
            "KEFU_WS_PORT": "0",
            "KEFU_HTTP_PORT": "0",
            "KEFU_TOKENS": "t:a:s",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_unwritable_shm_file_is_refused_at_start_up(tmp_path):
    # A directory is a -shm SQLite can never write, whoever runs the server (root included).
    (tmp_path / "kefu.db-shm").mkdir()
    result = serve_refused(tmp_path)
    shm = str(tmp_path / "kefu.db-shm")
    assert (result.returncode, result.stderr) == (
        2,
        f"kefu: sqlite store {str(tmp_path / 'kefu.db')!r}: {shm!r} is not writable (is a "
        "directory); a -shm SQLite cannot write kills the process (SIGBUS): fix its permissions "
        "or remove it while no server runs\n",
    )


@pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux sysfs")
async def test_a_data_directory_that_cannot_take_new_files_is_refused_at_start_up():
    # sysfs refuses new files to root too: what a read-only mount does to SQLite's -wal and -shm.
    with pytest.raises(StoreError) as refused:
        await SQLiteStore("/sys/kefu.db").open()
    message = str(refused.value)
    assert message.startswith("sqlite store '/sys/kefu.db': cannot create files in '/sys' (")
    assert message.endswith("); SQLite needs its -wal and -shm files there")  # EACCES or EROFS
