#!/usr/bin/env python3
"""Writes SET commands for N string keys (key:0 ... key:N-1) of 100 bytes each, in RESP, to standard output:
pipe them into `redis-cli -p PORT --pipe` to fill a server for a benchmark.

usage: server/scripts/load-keys.py N | redis-cli -p PORT --pipe
"""
import sys

count = int(sys.argv[1])
value = b"v" * 100
out = sys.stdout.buffer
for i in range(count):
    key = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(key), key, value))
