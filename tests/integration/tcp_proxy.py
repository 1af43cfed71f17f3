"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a server going away mid-conversation
(PostgreSQL restarted, a network drop), without touching the real server. Or freeze: the
connections open now go silent without being closed (a NAT or firewall that forgot them), while
new ones work. Or cut in the middle of a reply: `cut_after(n)` drops everything once the server
has sent n bytes (a server restarted in the middle of a large literal). Or slow: `delay` seconds
before each chunk is forwarded."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones
    until `restore()`. Threads only; stops with `close()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._live: list[socket.socket] = []
        self._frozen: set[socket.socket] = set()
        self._closed = False
        self._cut_after = 0  # server-to-client bytes after which every connection is cut; 0: never
        self._sent_down = 0
        self.delay = 0.0  # seconds each chunk waits before it is forwarded: a slow link
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()  # refused, as a server that is down
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the 5 s were for connecting: a quiet connection stays open
            with self._lock:
                self._live += [client, upstream]
            for a, b, down in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, down), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, down: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if down and self._cut_after:
                    self._sent_down += len(data)
                    if self._sent_down >= self._cut_after:
                        self._cut_after = 0
                        self.cut()
                        return
                if self.delay:
                    time.sleep(self.delay)
                if source not in self._frozen:  # frozen: swallowed, nobody told
                    sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every live connection and refuse new ones."""
        self._open.clear()
        with self._lock:
            live, self._live = self._live, []
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def freeze(self) -> None:
        """The connections open now stop forwarding, in both directions, and stay open (no FIN,
        no RST): a silent drop. New connections are forwarded as usual."""
        with self._lock:
            self._frozen.update(self._live)

    def is_open(self) -> bool:
        """False from a `cut()` until `restore()`."""
        return self._open.is_set()

    def cut_after(self, n_bytes: int) -> None:
        """Once the server has sent `n_bytes` more (counted over every connection), `cut()`."""
        self._sent_down = 0
        self._cut_after = n_bytes

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


@contextlib.contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
