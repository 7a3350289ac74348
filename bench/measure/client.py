"""The HTTP client side of the measurements, on raw sockets or http.client:
one GET on a new connection, polling until a server answers 200, and many
requests over a few keep-alive connections."""

import http.client
import re
import socket
import time

from .servers import HOST, stderr_of


def get(port, path="/", timeout=10.0):
    """One GET on a new connection (Connection: close). Returns the status
    code, having read the whole response; raises OSError on failure."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    if not match:
        raise OSError(f"malformed response {response[:40]!r}")
    return int(match.group(1))


def wait_200(process, port, limit_s=30.0):
    """Polls connect+GET / until a 200; returns perf_counter() at that 200."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        try:
            if get(port) == 200:
                return time.perf_counter()
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode}): {stderr_of(process)}")
        time.sleep(0.0002)
    raise RuntimeError(f"no 200 on port {port} within {limit_s}s")


def keep_alive_requests(port, count, connections=4):
    """count sequential GET / spread over keep-alive connections."""
    clients = [http.client.HTTPConnection(HOST, port, timeout=30) for _ in range(connections)]
    try:
        for i in range(count):
            client = clients[i % connections]
            client.request("GET", "/")
            response = client.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
    finally:
        for client in clients:
            client.close()


def describe(error):
    """A failed request's OSError in a few words, for the report."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, socket.timeout):
        return "timed out"
    return type(error).__name__
