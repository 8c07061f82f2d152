"""The asyncio glue: websocket and HTTP servers, the scheduler, the connection registry."""
