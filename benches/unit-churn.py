#!/usr/bin/env python3
"""The unit look-up under pid churn: circologd's CPU per message when every
message comes from a new process, against the same count from one process,
in the same run, alternating.

circologd names each local sender's systemd unit from /proc/PID/cgroup,
through a bounded cache, at most once per pid per second. A message from a
pid it has not seen costs a read of that file; this measures what that adds.

    cargo build --release && python3 benches/unit-churn.py [N] [ROUNDS]

N messages a phase (default 20000), ROUNDS alternations (default 3). The
churn phase forks one child per message: it sends one datagram on its own
socket and lives 50 ms more, so the daemon usually finds its cgroup file (a
sender gone before the look-up is cheaper: the file is missing). CPU is
the daemon's user + system time from /proc/PID/stat (10 ms ticks), over the
messages stored in the phase. Set CIRCOLOGD to measure another build.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAEMON = os.environ.get("CIRCOLOGD", os.path.join(ROOT, "target/release/circologd"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def stored(ctl):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ctl)
    s.sendall(b"GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    body = data.split(b"\r\n\r\n", 1)[1]
    last = json.loads(body).get("last_seq")
    return 0 if last is None else last + 1


def wait_stored(ctl, n):
    deadline = time.time() + 120
    while stored(ctl) < n:
        if time.time() > deadline:
            sys.exit(f"only {stored(ctl)} of {n} stored")
        time.sleep(0.01)


def one_pid(path, n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b"<14>churn: one sender %d" % i, path)
    s.close()


def paced(path, n, child_sends):
    """One child forked a message, at the pace forking allows: the child
    sends it (a new pid each), or the parent does (one pid, the same pace
    and the same forks, so that only the sender's pid differs)."""
    own = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    children = 0
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            if child_sends:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.sendto(b"<14>churn: a new sender %d" % i, path)
            time.sleep(0.05)
            os._exit(0)
        if not child_sends:
            own.sendto(b"<14>churn: one sender %d" % i, path)
        children += 1
        # Reap what has exited, so that pids are not held.
        while children:
            done, _ = os.waitpid(-1, os.WNOHANG)
            if done == 0:
                break
            children -= 1
    while children:
        os.waitpid(-1, 0)
        children -= 1
    own.close()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    d = tempfile.mkdtemp()
    sock, query, ctl = (os.path.join(d, f) for f in ("s.sock", "q.sock", "c.sock"))
    daemon = subprocess.Popen(
        [DAEMON, "-syslogd-socket", sock, "-query-socket", query, "-ctl-socket", ctl,
         "-buffer-size", str(3 * n * rounds + 10)],
        stdout=subprocess.DEVNULL,
    )
    try:
        while not os.path.exists(ctl):
            time.sleep(0.02)
        total = 0
        phases = (
            ("one pid, flat out", one_pid),
            ("one pid, a message per fork", lambda p, n: paced(p, n, False)),
            ("a new pid each", lambda p, n: paced(p, n, True)),
        )
        per = {name: [] for name, _ in phases}
        for _ in range(rounds):
            for name, send in phases:
                before = cpu_s(daemon.pid)
                send(sock, n)
                total += n
                wait_stored(ctl, total)
                per[name].append((cpu_s(daemon.pid) - before) / n * 1e6)
        one = statistics.median(per["one pid, a message per fork"])
        churn = statistics.median(per["a new pid each"])
        print(f"{DAEMON}: {n} messages a phase, {rounds} rounds")
        for name, xs in per.items():
            print(f"  {name}: circologd CPU {statistics.median(xs):.2f} us/msg "
                  f"(runs {', '.join(f'{x:.2f}' for x in xs)})")
        print(f"  ratio, a new pid each / one pid at the same pace: {churn / one:.2f}")
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
