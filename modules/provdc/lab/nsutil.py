"""Small helpers that run inside lab network namespaces, in one process (no `ip netns exec`
per namespace). Invoked by the lab as `python -m provdc.lab.nsutil COMMAND ...` as root.

    sysctl NETNS KEY=VALUE [NETNS KEY=VALUE ...]   write per-namespace net sysctls
    wait-ssh NETNS TIMEOUT ADDR [ADDR ...]         from NETNS, wait until each ADDR:22 sends
                                                   an SSH banner; print `up ADDR` as each
                                                   does, then `missing ADDR ...`
    tcp NETNS ADDR PORT TIMEOUT                    exit 0 if a TCP connection succeeds
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time
from collections.abc import Callable

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Switch this process (its only thread) into the network namespace /run/netns/NAME."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def write_sysctls(pairs: list[tuple[str, str, str]]) -> None:
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        for netns, key, value in pairs:
            enter_netns(netns)
            with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
                fh.write(value)
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(home)


async def _banner(addr: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(addr, 22), 2)
            try:
                line = await asyncio.wait_for(reader.readline(), 3)
            finally:
                writer.close()
            if line.startswith(b"SSH-"):
                return True
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.15)
    return False


async def _wait_all(addrs: list[str], timeout: float,
                    on_up: Callable[[str], None] = lambda addr: None) -> list[str]:
    deadline = time.monotonic() + timeout

    async def one(addr: str) -> bool:
        ok = await _banner(addr, deadline)
        if ok:
            on_up(addr)
        return ok

    results = await asyncio.gather(*(one(a) for a in addrs))
    return [a for a, ok in zip(addrs, results, strict=True) if not ok]


def wait_ssh(netns: str, timeout: float, addrs: list[str],
             on_up: Callable[[str], None] = lambda addr: None) -> list[str]:
    enter_netns(netns)
    return asyncio.run(_wait_all(addrs, timeout, on_up))


def main(argv: list[str]) -> int:
    cmd, *args = argv
    if cmd == "sysctl":
        pairs = []
        for netns, kv in zip(args[::2], args[1::2], strict=True):
            key, _, value = kv.partition("=")
            pairs.append((netns, key, value))
        write_sysctls(pairs)
        return 0
    if cmd == "wait-ssh":
        netns, timeout, *addrs = args
        # one line per host as it answers (the caller shows progress), then the summary
        missing = wait_ssh(netns, float(timeout), addrs,
                           on_up=lambda addr: print(f"up {addr}", flush=True))
        print(" ".join(["missing", *missing]), flush=True)
        return 1 if missing else 0
    if cmd == "tcp":
        netns, addr, port, timeout = args
        enter_netns(netns)
        import socket

        try:
            socket.create_connection((addr, int(port)), float(timeout)).close()
        except OSError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
