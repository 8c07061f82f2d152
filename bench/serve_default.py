"""``python -m server serve`` on the standard library's event loop, for the benchmarks only.

The server always picks uvloop when it is installed; this launcher is how the benchmarks measure
the default loop without adding a setting to the server.
"""

from __future__ import annotations

import asyncio

from server.runtime.app import serve
from server.settings import load_config

if __name__ == "__main__":
    asyncio.run(serve(load_config()))
