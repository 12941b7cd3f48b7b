#!/usr/bin/env python3
"""Writes layout/serve-symbols.txt: the functions a server runs, for the
linker to put side by side (see docs/performance.md, "Code layout").

Usage: benches/hot_symbols.py target/release/sockchat
       benches/hot_symbols.py --check target/release/sockchat

Runs `sockchat serve` under valgrind's callgrind, drives it over TCP with
what a chat server does all day (log in, join rooms, talk, /who, /rooms,
/history, /msg, /nick, /topic, a tagged client, leave, quit), then again
with `--store`, and lists every function of the binary that ran: those of
a plain server first, then those only a store runs. The linker places them
in that order at the start of the code, so a running server's code is a
few hundred contiguous KiB, not pages scattered over 3.4 MB.

Symbol names carry hashes that change with the toolchain, the Cargo.lock
and the release profile: run this again after changing any of those (it
tells how many of the listed functions the binary has; `--check` only
tells that). Needs valgrind (Debian: `apt-get install valgrind`).
"""
import os, re, socket, subprocess, sys, tempfile, time

CHECK = sys.argv[1:2] == ["--check"]
BIN = sys.argv[-1]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "layout", "serve-symbols.txt")


def read_until(s, text, buf):
    while text not in buf[0]:
        d = s.recv(65536)
        if not d:
            raise SystemExit(f"the server closed while waiting for {text!r}")
        buf[0] += d.decode(errors="replace")
    i = buf[0].index(text) + len(text)
    buf[0] = buf[0][i:]


def client(port, name, tagged=False):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(120)
    b = [""]
    read_until(s, "press Enter.\n", b)
    if tagged:
        s.sendall(b"/tagged\n")
        read_until(s, "Tagged mode on.\n", b)
    s.sendall(f"{name}\r\n".encode())
    read_until(s, f"logged in as: {name}\n", b)
    return s, b


def talk(port):
    """What people do on a chat server, through every common path."""
    people = [client(port, f"u{i}", tagged=(i % 5 == 0)) for i in range(30)]
    for i, (s, b) in enumerate(people):
        s.sendall(f"/join #r{i % 3}\n".encode())
        read_until(s, f"#r{i % 3}", b)
    for round in range(20):
        for i, (s, b) in enumerate(people):
            s.sendall(f"line {round} from u{i} with some words in it\n".encode())
    for i, (s, b) in enumerate(people):
        read_until(s, f"line 19 from u{(i + 3) % 30}", b)
    s, b = people[1]
    for line in ["/who", "/who #r0", "/rooms", "/history", "/history 5", "/msg u2 psst",
                 "/me waves", "/topic standup at ten", "/topic", "/switch #main",
                 "hello main", "/history #r1 3", "/leave #r1", "/nick u1b", "/nosuch",
                 "/join #bad name", "/who #nosuch"]:
        s.sendall(f"{line}\n".encode())
    s.sendall(b"/rooms\n")
    read_until(s, " rooms:", b)
    read_until(s, " rooms:", b)
    for i, (s, b) in enumerate(people):
        if i % 2:
            s.sendall(b"/quit\n")
        s.close()
    time.sleep(3)


def run(args):
    """Runs the server under callgrind with `args`, drives it, returns the
    functions of the binary that ran."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        srv = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             BIN, "serve", "--port", "0", "--host", "127.0.0.1", "--rate", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = None
        t0 = time.time()
        while port is None and time.time() - t0 < 60:
            m = re.search(r"127\.0\.0\.1:(\d+)", srv.stdout.readline())
            if m:
                port = int(m.group(1))
        if port is None:
            raise SystemExit("the server did not say its port")
        talk(port)
        srv.send_signal(2)
        srv.wait(timeout=60)
        return ran_in_binary(out)


def ran_in_binary(path):
    """The functions of BIN that have costs in a callgrind output."""
    names, objects, ran = {}, {}, []
    ob = None
    binary = os.path.realpath(BIN)
    with open(path) as f:
        for line in f:
            m = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if not m:
                continue
            kind, n, name = m.groups()
            table = objects if kind.endswith("ob") else names
            if name:
                table[n] = name
            if kind == "ob":
                ob = objects.get(n)
            elif kind == "fn" and ob == binary and n in names:
                ran.append(names[n])
    return ran


def symbols_of(binary):
    """The binary's functions, each with its address and size."""
    nm = subprocess.run(["nm", "-S", binary], capture_output=True, text=True, check=True).stdout
    return {p[3]: (int(p[0], 16), int(p[1], 16))
            for p in (l.split() for l in nm.splitlines()) if len(p) == 4 and p[2] in "tTwW"}


def check(known):
    with open(OUT) as f:
        listed = [l.strip() for l in f if l.strip()]
    found = [known[name] for name in listed if name in known]
    print(f"{len(found)} of the {len(listed)} functions in {os.path.normpath(OUT)} are in {BIN}")
    if found:
        # Side by side, they span about their own size; left where the
        # compiler put them, most of the binary.
        span = max(a + n for a, n in found) - min(a for a, _ in found)
        size = sum(n for _, n in found)
        print(f"they take {size // 1024} KiB and span {span // 1024} KiB of it"
              + (" (side by side)" if span < 2 * size else " (scattered: was the list given to the linker?)"))


def main():
    known = symbols_of(BIN)
    if CHECK:
        return check(known)
    plain = run([])
    with tempfile.TemporaryDirectory() as store:
        stored = run(["--store", store])
    seen, order = set(), []
    for name in plain + stored:
        if name in known and name not in seen:
            seen.add(name)
            order.append(name)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("".join(n + "\n" for n in order))
    print(f"{len(order)} functions written to {os.path.normpath(OUT)}")
    check(known)


if __name__ == "__main__":
    main()
