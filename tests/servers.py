"""Run the real gRPC servers on port 0 in a background event loop, for integration tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from mvstylizer_common.serving import set_serving


class ServerThread:
    """Starts `factory(host, port) -> (server, port, health)` on its own loop; stop() drains it."""

    def __init__(self, factory: Callable, service_name: str):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._service_name = service_name
        self.server, self.port, self.health = asyncio.run_coroutine_threadsafe(self._start(factory), self._loop).result(
            60
        )
        self.address = f"127.0.0.1:{self.port}"

    async def _start(self, factory: Callable):
        server, port, health = factory("127.0.0.1", 0)
        await server.start()
        await set_serving(health, [self._service_name], serving=True)
        return server, port, health

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
