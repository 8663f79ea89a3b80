"""asyncio shell around the pure cores: listening socket, connections, the tick loop, clean shutdown."""
from __future__ import annotations

import asyncio
import logging
import signal

from reference.server.connection import Connection
from reference.server.core import Server, ServerConfig

log = logging.getLogger("reference.server")

__all__ = ["Server", "ServerConfig", "serve"]


async def serve(config: ServerConfig, ready: "asyncio.Future[int] | None" = None) -> int:
    """Run a standalone server until SIGTERM/SIGINT (exit status 0) or a fatal storage error (1); everything
    ordered is on disk when it returns normally."""
    server = Server(config)
    loop = asyncio.get_running_loop()
    server.loop = loop
    listener = await loop.create_server(lambda: Connection(server), config.host, config.port,
                                        reuse_address=True, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    config.port = port
    log.info("serving on %s:%d, data in %s", config.host, port, config.data_dir)
    stop = server.stop_requested
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    server.start_ticking()
    if ready is not None:
        ready.set_result(port)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        listener.close()
        for conn in list(server.connections):
            conn.close()
        await server.drain()
        server.close()
        log.info("stopped at zxid 0x%x", server.tree.last_zxid)
    return 1 if server.failed else 0
