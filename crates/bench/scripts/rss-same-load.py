#!/usr/bin/env python3
"""Peak memory of a server under the same load, whatever its speed.

The closed-loop bench scenarios give a faster server more data to hold, so
their peak RSS does not compare like with like. This script gives every
server identical work over plain HTTP/1.1 and prints its RSS (from
/proc/PID/status) after each step:

1. 10,000 streams, created by one 256-byte append each;
2. 35 s idle (s2-lite retires idle stream sequencers after 30 s);
3. 122 MiB appended to one stream: 128 unary appends of 1,000 records of
   1,000 random bytes (base64 on the wire);
4. 70 s idle (SlateDB's WAL garbage collection).

usage: rss-same-load.py PORT PID   (a server already listening on 127.0.0.1:PORT)
"""
import base64
import http.client
import json
import os
import sys
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS")


def main():
    port, pid = int(sys.argv[1]), sys.argv[2]
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def request(method, path, body, headers):
        headers = {"Authorization": "Bearer x", "Content-Type": "application/json", **headers}
        conn.request(method, path, body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status}")

    print(f"start: {rss_mib(pid)} MiB")
    request("POST", "/v1/basins", {"basin": "rss-basin", "config": {"create_stream_on_append": True}}, {})
    time.sleep(1)
    basin = {"s2-basin": "rss-basin"}
    for i in range(10_000):
        request("POST", f"/v1/streams/s{i}/records", {"records": [{"body": "x" * 256}]}, basin)
    print(f"10,000 streams, one 256 B record each: {rss_mib(pid)} MiB")
    time.sleep(35)
    print(f"after 35 s idle: {rss_mib(pid)} MiB")
    payload = base64.b64encode(os.urandom(1000)).decode()
    for _ in range(128):
        request("POST", "/v1/streams/big/records", {"records": [{"body": payload}] * 1000},
                {**basin, "s2-format": "base64"})
    print(f"after 122 MiB appended: {rss_mib(pid)} MiB")
    time.sleep(70)
    print(f"after 70 s idle: {rss_mib(pid)} MiB")


if __name__ == "__main__":
    main()
