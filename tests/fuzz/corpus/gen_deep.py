#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora of fuzz_backend, fuzz_front and fuzz_hub (see the
# input formats at the top of each target). Run from tests/fuzz/corpus/.
import os
import struct


def w(target, name, data):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "wb") as f:
        f.write(bytes(data))


def u32(v):
    return list(struct.pack("<I", v & 0xffffffff))


# --- fuzz_backend: opcode byte, operands ---------------------------------
SOCKET, CONNECT, RELEASE, BIND, LISTEN, ACCEPT, POLL, RAW = range(8)
IDX, NOTIFY, TAKE, STORE, DATA, HOST, PUMP, END = range(8, 16)
w("backend", "empty", [])
w("backend", "socket", [SOCKET, 0, TAKE])
w("backend", "socket_release", [SOCKET, 0, TAKE, RELEASE, 0, 0, TAKE])
# CONNECT id 1 to our listener with data ring 0, accept on the host, data
# both ways, then release.
w("backend", "connect_traffic",
  [SOCKET, 1, CONNECT, 1, 0, 0, 0, PUMP, 3, TAKE,
   HOST, 0,                       # accept
   HOST, 8 | 0, 5] + list(b"hello") +  # host sends 5 bytes
  [PUMP, 3,
   DATA, 12, 0, 0, 16] + list(b"0123456789abcdef") +  # bytes into ring 0's page
  [DATA, 0x80 | 0, 16,           # out_prod += 16, notify
   PUMP, 3, HOST, 16, PUMP, 2, TAKE, RELEASE, 1, 0, PUMP, 2, TAKE])
w("backend", "connect_closed", [SOCKET, 2, CONNECT, 2, 1, 1, 1, PUMP, 5, TAKE])
w("backend", "bind_listen_accept",
  [SOCKET, 3, BIND, 3, 0, LISTEN, 3, ACCEPT, 3, 4, 0, 0, POLL, 3, PUMP, 2, TAKE,
   RELEASE, 3, 0, TAKE])
w("backend", "hostile_index", [SOCKET, 0, IDX, 4] + u32(0x7fffffff) + [IDX, 8 | 3, 5, NOTIFY, TAKE])
w("backend", "raw_unknown", [RAW] + u32(7) + u32(0x6c700001) + [0] * 56 + [TAKE])
w("backend", "store_state",
  [STORE, 0, 0x80 | 0x20 | 3, PUMP, 2, STORE, 1, 0x40 | 0x20 | 1, STORE, 2, 0, PUMP, 2])
w("backend", "guest_dies", [SOCKET, 0, SOCKET, 1, CONNECT, 1, 0, 0, 0, END, 1])
w("backend", "bad_ring_order", [SOCKET, 4, DATA, 8, 9, CONNECT, 4, 0, 0, 0, PUMP, 3, TAKE])

# --- fuzz_front: split byte, application ops | backend script -------------
def front(name, app, script):
    size = 1 + len(app) + len(script)
    # split = 1 + b0 * (size - 1) / 256 must equal 1 + len(app)
    for b0 in range(256):
        if 1 + b0 * (size - 1) // 256 == 1 + len(app):
            w("front", name, [b0] + app + script)
            return
    raise SystemExit("front seed %s: no split byte" % name)


SOCK, CONN, BND, LST, ACC, SEND, RECV, POLLF, REL, NREAD, NONBL, PROC = range(12)
front("socket_good", [SOCK, 0, 10, 10, REL, 0], [0, 0])
front("connect_traffic",
      [SOCK, 0, 20, 20, CONN, 0, 80, 0, 0, 0, RECV, 0, 100, SEND, 0, 10, POLLF, 0, 5,
       NREAD, 0, REL, 0],
      [0, 0x40, 1 | 2, 5] + list(b"hello") + [0, 0])
front("listen_accept",
      [SOCK, 1, 20, 20, BND, 1, 80, LST, 1, 4, ACC, 1, 2, RECV, 2, 10, REL, 2, REL, 1],
      [0, 0, 0, 0x40, 1 | 4, 3] + list(b"abc") + [104, 0, 0])
front("bad_answers",
      [SOCK, 0, 5, 5, SOCK, 1, 5, 5, SOCK, 2, 5, 5, SOCK, 3, 5, 5, SOCK, 4, 5, 5],
      [1] + u32(99) + [2] + u32(1) + [4] + u32(5) + [6, 7])
front("overflow", [SOCK, 0, 5, 5, SOCK, 1, 5, 5], [8, 30])
front("junk_slot", [SOCK, 0, 5, 5], [9] + [0xff] * 24)
front("ring_errors",
      [SOCK, 0, 20, 20, CONN, 0, 1, 0, 0, 0, RECV, 0, 10, SEND, 0, 100, REL, 0],
      [0x40, 4 | 8 | 16, 110, 111] + u32(0x12345678) + [0])

# --- fuzz_hub: hello byte, then ops ----------------------------------------
HELLO, REQ, RAWH, NB, HANG = 0, 1, 5, 6, 7
READ, WRITE, RM, DIR, TSTART, TEND, WATCH, UNWATCH = range(1, 9)


def req(op, path_sel, value=None, txn=None, arg=None):
    f = op
    out = []
    if txn is not None:
        f |= 16
    if arg is not None:
        f |= 32
    if value is not None:
        f |= 64
    out += [REQ, f, 1]
    if txn is not None:
        out += [txn]
    if arg is not None:
        out += u32(arg)
    out += [path_sel]
    if value is not None:
        out += [len(value)] + list(value)
    return out


w("hub", "hello_only", [0])
w("hub", "no_hello_request", [1] + req(READ, 0))
w("hub", "store_ops",
  [0] + req(WRITE, 0 | (2 << 3), b"x") + req(READ, 0 | (2 << 3)) + req(DIR, 0) +
  req(RM, 0 | (2 << 3)) + req(READ, 1 | (1 << 3)))
w("hub", "write_elsewhere", [0] + req(WRITE, 1 | (2 << 3), b"evil") + req(WRITE, 2 | (1 << 3), b"4") +
  req(WRITE, 3 | 8, b"root"))
w("hub", "txn", [0] + req(TSTART, 0) + req(WRITE, 0 | (2 << 3), b"t", txn=1) +
  req(TEND, 0, txn=1, arg=0) + req(TSTART, 0) + req(TSTART, 0) + req(TSTART, 0))
w("hub", "watches", [0] + req(WATCH, 3 | 8, b"tok") + [NB, 2, NB, 4] + req(UNWATCH, 3 | 8, b"tok") +
  req(WATCH, 1, b"a") + req(WATCH, 0, b"b") + req(WATCH, 2, b"c") + req(WATCH, 4, b"d") +
  req(WATCH, 0, b"e"))
w("hub", "bad_hello", [1, HELLO, 1 | 2 | 4 | 16] + u32(1 << 30) + u32(0) + u32(7) + u32(0) + [3])
w("hub", "raw_short", [0, RAWH, 3, 0, 1, 2, 3])
w("hub", "hangup", [0] + req(WATCH, 3 | 8, b"tok") + req(TSTART, 0) + [HANG, 1])
