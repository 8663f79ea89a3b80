"""tests/servers.py itself: servers start, answer, stop by PID, and a failed start says why."""
from __future__ import annotations

import socket

import pytest

from tests.servers import KINDS, HOST, ServerStartError, make_server, running_server

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("kind", KINDS)
def test_start_stop_restart(kind):
    with running_server(kind) as server:
        assert server.running and server.four_letter_word("ruok") == "imok"
        pid = server.pid
        server.stop()
        assert not server.running
        with pytest.raises(OSError):
            socket.create_connection((HOST, server.port), timeout=2).close()
        server.start()
        assert server.pid != pid and server.four_letter_word("ruok") == "imok"
    assert not server.running
    assert not server.workdir.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_start_on_a_taken_port_fails_with_the_log(kind):
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen(1)
        server = make_server(kind, port=blocker.getsockname()[1])
        try:
            with pytest.raises(ServerStartError) as failure:
                server.start(timeout=60)
            assert str(server.port) in str(failure.value)
            assert not server.running
        finally:
            server.cleanup()
