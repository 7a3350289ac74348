"""An HTTP/2 client that keeps its connection open and idle after one request.

Used by tests/clients.rs, with python-h2 (https://python-hyper.org/h2), a
client nobody in this project wrote, over a plain socket (h2c, prior
knowledge):

    python3 h2_idle_client.py HOST PORT PATH MODE

It sends its preface and SETTINGS, `GET PATH`, reads the whole response and
acknowledges the server's SETTINGS (as every client does), then prints
`response STATUS BODY_LENGTH` on stdout and goes idle, in one of two ways:

- `silent`: reads nothing more from the socket and sends nothing, like a
  pooled connection of a synchronous client (httpx, requests-style pools)
  that nobody touches until the next request;
- `no-ping-ack`: keeps reading and prints what the server sends
  (`goaway LAST_STREAM_ID`, `ping`, `closed`), but never answers: no PING
  acknowledgement, no GOAWAY of its own, no close.

Either way it stays until its stdin is closed (the test's end), so a test
that fails cannot leave it behind.
"""

import os
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def say(line):
    print(line, flush=True)


def fail(message):
    # os._exit: the thread reading stdin must not hold up the exit.
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(1)


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            return None
        data += more
    return data


def main():
    host, port, path, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode not in ("silent", "no-ping-ack"):
        fail(f"unknown mode {mode!r}: expected silent or no-ping-ack")

    # The test closes our stdin when it is done with us.
    def exit_on_stdin_eof():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()

    sock = socket.create_connection((host, port), timeout=30)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(
        stream,
        [
            (":method", "GET"),
            (":path", path),
            (":scheme", "http"),
            (":authority", f"{host}:{port}"),
        ],
        end_stream=True,
    )
    sock.sendall(conn.data_to_send())

    status, body, settings_acked, done = None, 0, False, False
    while not (done and settings_acked):
        data = sock.recv(65536)
        if not data:
            fail("the server closed the connection before the response ended")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(b":status", b"?").decode()
            elif isinstance(event, h2.events.DataReceived):
                body += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded):
                done = True
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                # receive_data has queued the SETTINGS acknowledgement.
                settings_acked = True
            elif isinstance(event, h2.events.StreamReset):
                fail(f"stream reset by the server: {event.error_code}")
        sock.sendall(conn.data_to_send())
    say(f"response {status} {body}")

    if mode == "no-ping-ack":
        # From here frames are read by hand: python-h2 refuses a PING after
        # a GOAWAY, and would queue the acknowledgement this mode withholds.
        sock.settimeout(None)
        while True:
            head = read_exact(sock, 9)
            if head is None:
                say("closed")
                break
            length, kind = int.from_bytes(head[:3], "big"), head[3]
            payload = read_exact(sock, length)
            if payload is None:
                say("closed")
                break
            if kind == 0x7:
                last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                say(f"goaway {last}")
            elif kind == 0x6 and not head[4] & 0x1:
                say("ping")
    threading.Event().wait()


if __name__ == "__main__":
    main()
