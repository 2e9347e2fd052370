#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_back_cmd into corpus/back_cmd/.

Byte 0: the extensions the frontend accepts (1 shutdown, 2 names,
4 sockopt, 8 inet6, 16 dgram, 32 ring-reuse); then 64-byte requests. Byte 4 of a request
selects the command (fuzz_back_cmd.c): 0..6 the v1 command, 0x70 + j the
extension command 0x6c700001 + j, 0xe8..0xef a datagram record op,
>= 0xf0 the raw cmd word.
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "back_cmd")
SOCKET, CONNECT, RELEASE, BIND, LISTEN, ACCEPT, POLL = range(7)
SHUTDOWN, GETSOCKNAME, GETPEERNAME, SETSOCKOPT, GETSOCKOPT, DGRAM_RINGS, RING_FREE, UNASSIGNED = (
    0x70 + j for j in range(8))


def req(sel, body=b""):
    return (struct.pack("<II", 0, sel) + body).ljust(64, b"\0")


def socket_(id_):
    return req(SOCKET, struct.pack("<QIII", id_, 2, 1, 0))


def bind(id_, port):
    addr = struct.pack("<H", 2) + struct.pack(">H", port) + bytes([127, 0, 0, 1])
    return req(BIND, struct.pack("<Q", id_) + addr.ljust(28, b"\0") + struct.pack("<I", 16))


def listen(id_, backlog=4):
    return req(LISTEN, struct.pack("<QI", id_, backlog))


def shutdown(id_, how, pad=0):
    return req(SHUTDOWN, struct.pack("<QII", id_, how, pad))


def getname(sel, id_, area, pad=0):
    return req(sel, struct.pack("<QII", id_, area, pad))


def setopt(id_, opt, length, val=b"", tail=b""):
    return req(SETSOCKOPT, struct.pack("<QII", id_, opt, length) + val.ljust(16, b"\0") + tail)


def getopt(id_, opt, area, tail=b""):
    return req(GETSOCKOPT, struct.pack("<QII", id_, opt, area) + tail)


def i32(*v):
    return b"".join(struct.pack("<i", x) for x in v)


def dsocket(id_, domain=2, proto=0):
    return req(SOCKET, struct.pack("<QIII", id_, domain, 2, proto))


def drings(id_, bad=0):
    return req(DGRAM_RINGS, struct.pack("<QII", id_, 0, 0) + bytes([bad]))


def dconnect(id_, port, family=2):
    if family == 0:
        return req(CONNECT, struct.pack("<Q", id_) + b"\0" * 28 + struct.pack("<III", 2, 0, 0))
    addr = struct.pack("<H", 2) + struct.pack(">H", port) + bytes([127, 0, 0, 1])
    return req(CONNECT, struct.pack("<Q", id_) + addr.ljust(28, b"\0") + struct.pack("<III", 16, 0, 0))


RECORD = 0xe8


def record(id_, length, dest, port=9, flags=0, fam=0, cut=0, full=0, err=0, payload=b"dgram"):
    """A record op: dest 0 none, 1 127.0.0.1:port, 2 ::1, 3 family fam."""
    head = struct.pack("<IBBBBBBBBBB", 0, RECORD, length, flags, dest, id_, fam, cut, 0, full, err)
    return (head + struct.pack(">H", port) + payload).ljust(64, b"\0")


def rconnect(id_, port, ring):
    """CONNECT over real ring ring-1 (fuzz_back_cmd.c, real_ring)."""
    addr = struct.pack("<H", 2) + struct.pack(">H", port) + bytes([127, 0, 0, 1])
    return req(CONNECT, struct.pack("<Q", id_) + addr.ljust(28, b"\0") + struct.pack("<IIII", 16, 0, ring, 0))


def raccept(id_, id_new, ring):
    return req(ACCEPT, struct.pack("<QQII", id_, id_new, ring, 0))


def ring_free(ring, id_=0, evtchn=0, bad=0):
    return req(RING_FREE, struct.pack("<QII", id_, ring, evtchn) + bytes([bad]))


def release(id_):
    return req(RELEASE, struct.pack("<Q", id_))


# Ring reuse: a listener on a fixed port, an accepted and a connected
# socket on real rings, both parked by RELEASE, taken again, named while in
# use, freed (and the errors of RING_FREE).
RPORT = 47123
SEEDS = {
    "ring_reuse": bytes([0x27]) + socket_(1) + bind(1, RPORT) + listen(1) + raccept(1, 2, 1)
    + socket_(3) + rconnect(3, RPORT, 2) + release(2) + release(3) + raccept(1, 5, 1)
    + socket_(4) + rconnect(4, RPORT, 2) + socket_(6) + rconnect(6, RPORT, 2) + ring_free(2)
    + ring_free(1, id_=1) + ring_free(1, bad=1) + ring_free(2, evtchn=9) + release(4)
    + ring_free(2) + ring_free(2) + release(5) + release(1) + ring_free(1),
    "ring_reuse_off": bytes([7]) + socket_(1) + bind(1, RPORT + 1) + listen(1) + raccept(1, 2, 1)
    + socket_(3) + rconnect(3, RPORT + 1, 2) + release(2) + release(3) + ring_free(1),
    "v1_only_ext_cmds": bytes([0]) + socket_(1) + b"".join(
        req(s, struct.pack("<Q", 1)) for s in (SHUTDOWN, GETSOCKNAME, GETPEERNAME, SETSOCKOPT,
                                                 GETSOCKOPT, DGRAM_RINGS, RING_FREE,
                                                 UNASSIGNED)),
    "shutdown": bytes([7]) + socket_(1) + shutdown(1, 1) + shutdown(1, 3) + shutdown(1, 1, 1)
    + shutdown(5, 2) + bind(1, 0) + shutdown(1, 0) + listen(1) + shutdown(1, 1) + shutdown(1, 0)
    + listen(1) + req(POLL, struct.pack("<Q", 1)) + shutdown(1, 2) + req(RELEASE, struct.pack("<Q", 1))
    + shutdown(1, 1),
    "names": bytes([7]) + socket_(1) + getname(GETSOCKNAME, 1, 5) + getname(GETPEERNAME, 1, 6)
    + getname(GETSOCKNAME, 1, 32) + getname(GETSOCKNAME, 1, 0xffffffff) + getname(GETSOCKNAME, 1, 3, 9)
    + bind(1, 0) + getname(GETSOCKNAME, 1, 31) + listen(1) + getname(GETSOCKNAME, 1, 0)
    + getname(GETPEERNAME, 1, 0) + getname(GETSOCKNAME, 7, 0),
    "sockopt": bytes([7]) + socket_(1)
    + b"".join(setopt(1, o, 8 if o == 6 else 4, i32(1, 3)[:8 if o == 6 else 4]) for o in range(16))
    + b"".join(getopt(1, o, o % 33) for o in range(16))
    + setopt(1, 1, 17) + setopt(1, 1, 4, i32(1) + b"\1") + setopt(1, 1, 4, i32(1), b"\0" * 8 + b"\1")
    + setopt(1, 6, 8, i32(1, -1)) + setopt(1, 6, 8, i32(1, 0)) + getopt(1, 1, 0, b"\0" * 8 + b"\1")
    + setopt(1, 11, 4, i32(1)) + bind(1, 0) + setopt(1, 10, 4, i32(0)) + listen(1) + getopt(1, 10, 2),
    "mixed_partial": bytes([5]) + socket_(2) + getname(GETSOCKNAME, 2, 1) + setopt(2, 1, 4, i32(1))
    + shutdown(2, 1) + req(0xf1, struct.pack("<Q", 2)),
    "dgram": bytes([0x10]) + dsocket(1) + drings(1) + record(1, 5, 1, 9) + record(1, 0, 0)
    + dconnect(1, 9) + record(1, 8, 0) + dconnect(1, 0, 0) + record(1, 3, 0) + record(1, 4, 2)
    + record(1, 4, 3, fam=7) + req(BIND, struct.pack("<Q", 1) + (struct.pack("<H", 2) + b"\0\0"
                                  + bytes([127, 0, 0, 1])).ljust(28, b"\0") + struct.pack("<I", 16))
    + req(LISTEN, struct.pack("<QI", 1, 1)) + req(POLL, struct.pack("<Q", 1))
    + req(ACCEPT, struct.pack("<QQII", 1, 2, 0, 0)) + drings(1) + drings(6) + socket_(3) + drings(3)
    + dsocket(4, 2, 6) + dsocket(4, 10) + req(RELEASE, struct.pack("<Q", 1)),
    "dgram_hostile": bytes([0x12]) + b"".join(dsocket(i) + drings(i) for i in range(1, 7))
    + record(1, 8, 1, flags=1, full=9) + record(2, 0, 1, flags=2, err=5)
    + record(3, 40, 1, flags=4, cut=20) + record(4, 8, 1, flags=8) + record(5, 0, 1, flags=16)
    + record(6, 48, 1, 7) + drings(7, 1) + getname(GETPEERNAME, 6, 0) + getname(GETSOCKNAME, 6, 1),
    "dgram_inet6": bytes([0x1a]) + dsocket(1, 10) + drings(1) + record(1, 12, 2, 9)
    + record(1, 12, 1, 9) + dsocket(2, 10, 17) + drings(2) + record(2, 1, 0),
    "dgram_off": bytes([7]) + dsocket(1) + drings(1) + record(1, 5, 1),
    "raw_cmds": bytes([7]) + b"".join(
        (struct.pack("<II", 0, c) + struct.pack("<Q", 1)).ljust(64, b"\0")
        for c in (0x6c7080f1, 0x6c70fff0, 0xfffffff0, 0x6c7000f5)),
}

os.makedirs(HERE, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
