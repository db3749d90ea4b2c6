#!/usr/bin/env python3
"""Pings a RESP server on loopback once a millisecond for SECONDS and prints the longest round trip, in ms:
what a pause of the server (a replica's copy, a rewrite) cost a client.

usage: server/scripts/ping-worst.py PORT SECONDS
"""
import socket
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
worst, end = 0.0, time.time() + seconds
while time.time() < end:
    t = time.perf_counter()
    s.sendall(b"PING\r\n")
    s.recv(16)
    worst = max(worst, time.perf_counter() - t)
    time.sleep(0.001)
print(f"{worst * 1000:.1f}")
