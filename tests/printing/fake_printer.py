"""A fake network label printer: a real TCP listener speaking port 9100's protocol (the client connects,
writes the label, closes). It keeps every label it received, in order, and can be switched off and on
again on the same port."""
from __future__ import annotations

import socket
import threading


class FakePrinter:
    def __init__(self, port: int = 0):
        self.received: list[bytes] = []
        self._sock = None
        self._thread = None
        self.port = port
        self._cond = threading.Condition()

    def start(self) -> "FakePrinter":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(8)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def _serve(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                with self._cond:
                    self.received.append(b"".join(chunks))
                    self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Waits until `count` labels have arrived (the sender may return before the listener has read
        everything), then returns them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        """Switch the printer off: the port refuses connections from now on."""
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
