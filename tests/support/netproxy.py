"""A TCP forwarder on loopback that a test can cut and restore: the broker
stays up, but whatever connects through the proxy loses it (a partition)."""
import socket

import eventlet


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._socks = set()
        self._server = eventlet.spawn(self._serve)

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = eventlet.connect(self.target)
            except OSError:
                client.close()
                continue
            self._socks.update((client, upstream))
            eventlet.spawn(self._pipe, client, upstream)
            eventlet.spawn(self._pipe, upstream, client)

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):  # the other side went away, or cut() shut it
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
                self._socks.discard(s)

    def cut(self):
        """Drop every connection and refuse new ones. Sockets are shut down,
        not closed: the pipes reading them wake, finish and close them."""
        self.up = False
        for s in list(self._socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()
        self._server.kill()
