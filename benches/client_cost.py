#!/usr/bin/env python3
"""What a busy room costs `sockchat join` (see docs/performance.md).

Usage: benches/client_cost.py target/release/sockchat

1. A piped join (stdout to a pipe) receiving 100,000 lines of 64 bytes as
   fast as one sender can send them: lines per second it keeps up with.
   (Many more at once outrun it and the server rightly cuts it off at its
   1 MiB --send-queue.)
2. A join on a pseudo-terminal (the line editor running) in a room relaying
   1,000 lines a second for 10 s: its CPU time.
"""
import os, pty, socket, subprocess, sys, threading, time, re
B = sys.argv[1]
srv = subprocess.Popen([B, "serve", "--host", "127.0.0.1", "--port", "0", "--rate", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
port = int(srv.stdout.readline().strip().rsplit(":", 1)[1])

def login(name):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(name.encode() + b"\n")
    f.readline()
    return s, f

def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

# 1. A piped join (stdout to a pipe): how many lines a second it keeps up with.
N = 100_000
j = subprocess.Popen([B, "join", "--port", str(port), "--name", "logger"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
for line in j.stdout:
    if b"logged in" in line:
        break
got = 0
marks = []
done = threading.Event()
def count():
    global got
    for line in j.stdout:
        if line.startswith(b"flood: "):
            got += 1
            if got == 50_000:
                marks.append(time.time())
            if got == N:
                done.set()
                return
    done.set()
threading.Thread(target=count, daemon=True).start()
s, f = login("flood")
t0 = time.time()
c0 = cpu(j.pid)
batch = b"flood line of about sixty-four bytes, as in the benchmarks ......\n" * 1000
for _ in range(N // 1000):
    s.sendall(batch)
done.wait(120)
el = time.time() - t0
first = marks[0] - t0 if marks else float("nan")
print(f"piped join: {got} lines in {el:.2f} s = {got/el:,.0f} lines/s (first 50,000 in {first:.2f} s), join CPU {cpu(j.pid)-c0:.2f} s, exit {j.poll()}")
j.kill(); s.close()

# 2. A TTY join in a room relaying 1,000 lines a second for 10 s: its CPU.
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    os.execv(B, [B, "join", "--port", str(port), "--name", "watcher"])
buf = bytearray()
def drain():
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        buf.extend(data)
threading.Thread(target=drain, daemon=True).start()
while b"logged in" not in buf:
    time.sleep(0.05)
time.sleep(0.5)
s, f = login("flood2")
c0 = cpu(pid); t0 = time.time()
for tick in range(1000):  # 10 lines every 10 ms, for 10 s
    s.sendall(b"a line of chat, about as long as people type them, here\n" * 10)
    time.sleep(max(0, t0 + (tick + 1) * 0.01 - time.time()))
time.sleep(0.5)
el = time.time() - t0
used = cpu(pid) - c0
print(f"tty join: 1,000 lines/s for {el:.1f} s: {used:.2f} s CPU = {100*used/el:.0f}% of a core")
os.kill(pid, 9); srv.kill()
