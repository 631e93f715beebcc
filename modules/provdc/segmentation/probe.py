"""Listener and connector for the traffic proof. Standard library only: `verify` ships this
file to each host as a `python3 -c` argument (stdin stays free as the listener's lifeline).

    probe.py listen B64JSON   {"address": A, "ports": [["tcp", 443], ["udp", 123]]}
        binds every port on A (a port already served there, e.g. sshd's 22, is used as it
        is), checks each one locally, prints {"ready": ...}, then records every connection
        until stdin closes and prints {"seen": [[proto, port, source], ...]}.
    probe.py connect B64JSON  {"timeout": T, "probes": [{"id", "dst", "proto", "port"}]}
        tries them all at once; prints {id: open | refused | unreachable | timeout}.
"""

from __future__ import annotations

import base64
import errno
import json
import select
import socket
import sys
import threading
import time

NTP_LIKE = b"\x1b" + 47 * b"\0"  # an NTP client request: chrony answers it, our echo too
LIFETIME = 600  # a listener never outlives this, even if its SSH session hangs


def _arg(text: str) -> dict:
    return json.loads(base64.b64decode(text))


def _bind(address: str, proto: str, port: int):
    # On the address the probes aim at, not the wildcard: a service listening on loopback
    # only (a database for its local clients) leaves that address free, and the port must
    # still answer the proof; one already listening there or on every address answers it.
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((address, port))
    except OSError as exc:
        s.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    if proto == "tcp":
        s.listen(64)
    return s


def _try(dst: str, proto: str, port: int, timeout: float) -> str:
    if proto == "tcp":
        try:
            socket.create_connection((dst, port), timeout=timeout).close()
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return "unreachable" if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH,
                                                  errno.EACCES, errno.EPERM) else "error"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((dst, port))
        s.send(NTP_LIKE)
        s.recv(512)
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError:
        return "unreachable"
    finally:
        s.close()


def listen(spec: dict) -> None:
    socks, ports = {}, {}
    for proto, port in spec["ports"]:
        s = _bind(spec["address"], proto, port)
        if s is None:
            ports[f"{proto}/{port}"] = "existing"
        else:
            socks[s] = (proto, port)
            ports[f"{proto}/{port}"] = "bound"
    seen: list = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select(list(socks), [], [], 0.2)
            for s in ready:
                proto, port = socks[s]
                if proto == "tcp":
                    conn, peer = s.accept()
                    conn.close()
                else:
                    data, peer = s.recvfrom(512)
                    s.sendto(data, peer)
                seen.append([proto, port, peer[0]])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    # the listener proves itself first: a port it cannot reach locally proves nothing later
    local = {}
    for key in ports:
        proto, port = key.split("/")
        local[key] = _try(spec["address"], proto, int(port), 2.0)
    print(json.dumps({"ready": True, "ports": ports, "local": local}), flush=True)
    deadline = time.monotonic() + LIFETIME
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        if ready and not sys.stdin.buffer.read1(4096):
            break
    stop.set()
    thread.join(1)
    own = spec["address"]
    print(json.dumps({"seen": [s for s in seen if s[2] not in (own, "127.0.0.1")]}),
          flush=True)


def connect(spec: dict) -> None:
    results: dict = {}

    def one(p: dict) -> None:
        results[p["id"]] = _try(p["dst"], p["proto"], p["port"], spec["timeout"])

    threads = [threading.Thread(target=one, args=(p,)) for p in spec["probes"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    {"listen": listen, "connect": connect}[sys.argv[1]](_arg(sys.argv[2]))
