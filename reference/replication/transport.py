"""Links between servers: each server dials every other server's peer port and only sends on that link; what
arrives on accepted links is only received. Frames are u32 length + u8 channel + payload. A link that fails is
redialed with backoff; messages for a peer without a link are dropped (consensus tolerates loss; the server
fails requests it forwarded over a link that broke)."""
from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable

log = logging.getLogger("reference.peers")

_FRAME = struct.Struct(">IB")
_HELLO = struct.Struct(">I")
MAX_PEER_FRAME = 256 << 20

HELLO = 0
CONSENSUS = 1      # reference.consensus.messages encoding
FORWARD = 2        # a follower's client request for the leader
FORWARD_FAIL = 3   # the leader could not order a forwarded request
TOUCH = 4          # sessions a follower's clients were heard from

Handler = Callable[[int, int, bytes], None]   # (peer id, channel, payload)


class _Link:
    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.epoch = 0      # bumped whenever the link is (re)established or lost


class Transport:
    def __init__(self, my_id: int, peers: dict[int, tuple[str, int]], listen: tuple[str, int],
                 handler: Handler, on_link_change: Callable[[int], None] | None = None) -> None:
        self.my_id = my_id
        self.peers = peers
        self.listen = listen
        self.handler = handler
        self.on_link_change = on_link_change
        self.links = {p: _Link() for p in peers}
        self._tasks: list[asyncio.Task] = []
        self._server: asyncio.base_events.Server | None = None
        self._closing = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accepted, self.listen[0], self.listen[1],
                                                  reuse_address=True)
        for p in self.peers:
            self._tasks.append(asyncio.get_running_loop().create_task(self._dial(p)))

    def connected(self, peer: int) -> bool:
        w = self.links[peer].writer
        return w is not None and not w.is_closing()

    def send(self, peer: int, channel: int, payload: bytes) -> bool:
        link = self.links.get(peer)
        if link is None or link.writer is None or link.writer.is_closing():
            return False
        link.writer.write(_FRAME.pack(len(payload) + 1, channel) + payload)
        return True

    async def _dial(self, peer: int) -> None:
        host, port = self.peers[peer]
        delay = 0.05
        link = self.links[peer]
        while not self._closing:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            sock = writer.get_extra_info("socket")
            if sock is not None:
                import socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(_FRAME.pack(_HELLO.size + 1, HELLO) + _HELLO.pack(self.my_id))
            link.writer = writer
            link.epoch += 1
            log.info("link to server %d up", peer)
            if self.on_link_change:
                self.on_link_change(peer)
            try:
                # Nothing is expected back on a dialed link; reading notices when the peer goes away.
                while await reader.read(65536):
                    pass
            except OSError:
                pass
            link.writer = None
            link.epoch += 1
            writer.close()
            log.info("link to server %d down", peer)
            if self.on_link_change:
                self.on_link_change(peer)
            await asyncio.sleep(delay)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = None
        try:
            while True:
                head = await reader.readexactly(_FRAME.size)
                length, channel = _FRAME.unpack(head)
                if length < 1 or length > MAX_PEER_FRAME:
                    log.warning("peer frame of %d bytes refused; dropping the link", length)
                    return
                payload = await reader.readexactly(length - 1)
                if peer is None:
                    if channel != HELLO or len(payload) != _HELLO.size:
                        log.warning("peer link without a hello; dropping it")
                        return
                    (peer,) = _HELLO.unpack(payload)
                    if peer not in self.peers:
                        log.warning("hello from unknown server %d; dropping the link", peer)
                        return
                    continue
                self.handler(peer, channel, payload)
        except (asyncio.IncompleteReadError, OSError):
            pass
        except Exception:
            log.exception("handling a message from server %s failed", peer)
        finally:
            writer.close()

    async def close(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        for link in self.links.values():
            if link.writer is not None:
                link.writer.close()
        if self._server is not None:
            self._server.close()
