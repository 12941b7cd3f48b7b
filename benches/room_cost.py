#!/usr/bin/env python3
"""What being in 50 rooms costs a person on the server (see docs/performance.md).

Usage: benches/room_cost.py target/release/sockchat [N]

N clients (default 2000) log in, so all are in #main; the server's RSS;
then each joins 49 more rooms (#r0..#r48, shared by all); the RSS again.
The difference, split over the N clients, is what 49 more memberships cost
a person (the rooms themselves included). Raise `ulimit -n` above N first.
"""
import socket, subprocess, time, sys, re
B = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
srv = subprocess.Popen([B, "serve", "--port", "0", "--host", "127.0.0.1",
                        "--announce-max", "1", "--replay", "0", "--max-per-addr", "0", "--max-pending-per-addr", "0",
                        "--connect-rate", "0", "--rate", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
port = None
t0 = time.time()
while port is None and time.time() - t0 < 10:
    line = srv.stdout.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line) or re.search(r"port (\d+)", line)
    if m: port = int(m.group(1))
def rss():
    with open(f"/proc/{srv.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
def read_until(s, text, buf):
    while text not in buf[0]:
        d = s.recv(65536)
        if not d: raise SystemExit("closed")
        buf[0] += d.decode(errors="replace")
    i = buf[0].index(text) + len(text); buf[0] = buf[0][i:]
socks = []
for i in range(N):
    s = socket.create_connection(("127.0.0.1", port)); b = [""]
    read_until(s, "press Enter.\n", b)
    s.sendall(f"u{i}\n".encode()); read_until(s, f"logged in as: u{i}\n", b)
    socks.append((s, b))
time.sleep(0.5); before = rss()
for s, b in socks:
    s.sendall("".join(f"/join #r{j}\n" for j in range(49)).encode())
    read_until(s, "You joined #r48.\n", b)
time.sleep(0.5); after = rss()
print(f"{N} clients: RSS {before} KiB in #main only, {after} KiB in 50 rooms each: {(after-before)*1024/N:.0f} bytes more a person")
srv.kill()
