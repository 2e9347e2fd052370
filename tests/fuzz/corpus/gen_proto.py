#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_proto into corpus/proto/.

Each input is a run of 88-byte records: a 64-byte request then a 24-byte
response, little-endian as on every Xen architecture.
"""
import os
import socket
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proto")


def addr(ip, port, family=2):
    b = struct.pack("<H", family) + struct.pack(">H", port) + socket.inet_aton(ip)
    return b.ljust(28, b"\0")


def req(req_id, cmd, body=b""):
    return (struct.pack("<II", req_id, cmd) + body).ljust(64, b"\0")


def rsp(req_id, cmd, ret, id_):
    return struct.pack("<IIiIQ", req_id, cmd, ret, 0, id_)


def socket_(i, id_, d=2, t=1, p=0):
    return req(i, 0, struct.pack("<QIII", id_, d, t, p))


def connect(i, id_, a, ln=16, ref=8, ev=9):
    return req(i, 1, struct.pack("<Q", id_) + a + struct.pack("<IIII", ln, 0, ref, ev))


def bind(i, id_, a, ln=16):
    return req(i, 3, struct.pack("<Q", id_) + a + struct.pack("<I", ln))


SEEDS = {
    "socket": socket_(0, 0x1000) + rsp(0, 0, 0, 0x1000),
    "socket_bad": socket_(1, 0x1000, d=10, t=2, p=6) + rsp(1, 0, -97, 0x1000),
    "connect": connect(2, 0x2000, addr("127.0.0.1", 80)) + rsp(2, 1, -111, 0x2000),
    "connect_bad": connect(3, 0x2000, addr("10.0.0.1", 80, family=10), ln=29)
    + rsp(3, 1, 5, 0x2000),
    "bind_listen": bind(4, 0x3000, addr("0.0.0.0", 8080)) + rsp(4, 3, 0, 0x3000)
    + req(5, 4, struct.pack("<QI", 0x3000, 128)) + rsp(5, 4, -98, 0x3000),
    "accept_poll": req(6, 5, struct.pack("<QQII", 0x3000, 0x4000, 10, 11))
    + rsp(6, 5, 0, 0x3000) + req(7, 6, struct.pack("<Q", 0x3000)) + rsp(7, 6, 0, 0x3000),
    "release": req(8, 2, struct.pack("<QB", 0x2000, 0xAB)) + rsp(8, 2, 0, 0x2000),
    "unknown_cmd": req(9, 7, struct.pack("<Q", 1)) + rsp(9, 7, -524, 1)
    + req(10, 0xFFFFFFFF) + rsp(10, 9, -4096, 0),
    "short": b"\x01\x00\x00\x00\x01\x00\x00\x00\x02",
    "empty": b"",
}

if __name__ == "__main__":
    os.makedirs(HERE, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
