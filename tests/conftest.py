from __future__ import annotations

import pytest

from services.interpolator import server as interpolator_server
from services.stylizer import server as stylizer_server
from tests.servers import ServerThread


@pytest.fixture(scope="session")
def stylizer_address():
    running = ServerThread(stylizer_server.create_server, stylizer_server.SERVICE_NAME)
    yield running.address
    running.stop()


@pytest.fixture(scope="session")
def interpolator_address():
    running = ServerThread(interpolator_server.create_server, interpolator_server.SERVICE_NAME)
    yield running.address
    running.stop()
