#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: the two-libvirt-hosts harness (tests/libvirt_hosts.py), proven
# with no virt-migrate code at all: live p2p migrations between two real
# session libvirtds on this machine, through a relay written here.
#
# Setup: host A (source, normal mounts) and host B (destination,
# private_mounts: <workdir>/migrate is bind-mounted from B's private
# directory in B's mount namespace), both libvirtds run as the throwaway user
# vmig-libvirt, driven by root's virsh.  A domain on A, its RAM planted with
# 1 MiB of random bytes at 16 MiB by `-device loader` through
# <qemu:commandline>, migrates with
#     virsh -c A migrate --live --p2p DOM B.uri --migrateuri unix://<workdir>/migrate/relay.sock
#           [--parallel --parallel-connections 4]
# The relay (threads in this process) listens on <workdir>/migrate/relay.sock
# in A's view -- the initial mount namespace; the socket is given to the
# libvirt user, since A's libvirtd or QEMU connects to it as that user -- and
# for each connection accepted connects to the same path in B's view, which
# root reaches without entering B's namespace as <B's private dir>/relay.sock
# (B.real_path()): the bind source is an ordinary directory.  That is where
# B's QEMU listens.  (Without the relay the source fails with "Failed to
# connect socket to '.../relay.sock': No such file or directory": the two
# views really differ.)
#
# Checks: root's virsh reaches both libvirtds, each with its own host_uuid;
# the migration dir is private to B; B.spawn() runs in B's view as root or
# as the user, with the Popen's pid the program's; for 1 and 4 channels: the
# migration succeeds, the relay sees 1 connection (A's libvirtd connects and
# hands QEMU the fd) or 1 main + 4 multifd (A's QEMU connects), told apart
# by their first bytes ("QEVM" / 11 22 33 44); the domain runs on B and is
# gone from A; pmemsave on B returns the pattern; then nothing of either
# host is left running.
#
# Measured here (2 cores; idle, and with two busy loops: the same within
# ~15%; no timing is asserted): both libvirtds ready in ~4 s with their QEMU
# probes overlapped; domain start 0.3-0.45 s; idle 256 MiB guest migrates in
# 1.6-2.5 s with 1 channel, 2.1-2.5 s with 4 (~2 MB on the wire, mostly
# zero pages); the whole suite ~15 s.
#
# Skipped (1..0 # SKIP) unless root with libvirtd, virsh, setpriv, unshare,
# useradd and qemu-system-x86_64, and unshare -m works.  Everything started
# is stopped by pid and the work directory removed however the tests went
# (try/finally, atexit, SIGTERM/SIGINT/SIGHUP turned into exit); a run that
# was SIGKILLed is cleaned up by the next one (reap_stale()).

import os
import select
import socket
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # srcdir may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libvirt_hosts as lh  # noqa: E402

MIGRATE_TIMEOUT = 300
QEVM = b"QEVM"
MULTIFD = bytes.fromhex("11223344")


class Relay:
    """Accepts on listen_path; each connection is joined to a new connection
    to connect_path, bytes forwarded both ways (the return path too)."""

    def __init__(self, listen_path, connect_path):
        self.listen_path = listen_path
        self.connect_path = connect_path
        self.connections = []   # dicts: index, head (first bytes A->B), a2b, b2a, error
        self.lock = threading.Lock()
        self.stopping = False
        self.sockets = []
        self.threads = []
        if os.path.lexists(listen_path):
            os.unlink(listen_path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(listen_path)
        lh.allow_user(listen_path)
        self.listener.listen(16)
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    def _accept_loop(self):
        while not self.stopping:
            r, _, _ = select.select([self.listener], [], [], 0.2)
            if not r or self.stopping:
                continue
            try:
                a, _ = self.listener.accept()
            except OSError:
                continue
            conn = {"index": len(self.connections), "head": b"", "a2b": 0, "b2a": 0,
                    "error": None}
            with self.lock:
                self.connections.append(conn)
                self.sockets.append(a)
            b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            deadline = time.monotonic() + 30
            while True:
                try:
                    b.connect(self.connect_path)
                    break
                except OSError as e:
                    if time.monotonic() > deadline or self.stopping:
                        conn["error"] = "connect %s: %s" % (self.connect_path, e)
                        a.close()
                        b.close()
                        b = None
                        break
                    time.sleep(0.05)
            if b is None:
                continue
            with self.lock:
                self.sockets.append(b)
            for src, dst, key in ((a, b, "a2b"), (b, a, "b2a")):
                t = threading.Thread(target=self._pump, args=(src, dst, conn, key),
                                     daemon=True)
                self.threads.append(t)
                t.start()

    def _pump(self, src, dst, conn, key):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if key == "a2b" and len(conn["head"]) < 8:
                    conn["head"] += data[:8 - len(conn["head"])]
                conn[key] += len(data)
                dst.sendall(data)
        except OSError as e:
            if not self.stopping:
                conn["error"] = "%s: %s" % (key, e)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def wait_idle(self, timeout=30):
        """Wait until every pump has seen its end of stream."""
        deadline = time.monotonic() + timeout
        for t in list(self.threads):
            t.join(max(0, deadline - time.monotonic()))

    def reset(self):
        self.wait_idle()
        with self.lock:
            for s in self.sockets:
                s.close()
            self.sockets = []
            self.threads = []
            self.connections = []

    def close(self):
        self.stopping = True
        self.acceptor.join(5)
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        for t in self.threads:
            t.join(5)
        if os.path.lexists(self.listen_path):
            os.unlink(self.listen_path)


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def diag(text):
    for line in str(text).splitlines():
        print("# " + line)
    sys.stdout.flush()


class Suite:
    def __init__(self):
        self.steps = []
        self.passed = set()
        self.failed = 0

    def add(self, name, fn, needs=()):
        self.steps.append((name, fn, needs))

    def run(self):
        print("1..%d" % len(self.steps))
        sys.stdout.flush()
        for n, (name, fn, needs) in enumerate(self.steps, 1):
            missing = [d for d in needs if d not in self.passed]
            if missing:
                print("ok %d - %s # SKIP needs %s" % (n, name, ", ".join(missing)))
                continue
            try:
                fn()
                print("ok %d - %s" % (n, name))
                self.passed.add(name)
            except Exception as e:
                self.failed += 1
                print("not ok %d - %s" % (n, name))
                diag(str(e) if isinstance(e, (Failure, lh.HostError))
                     else traceback.format_exc())
            sys.stdout.flush()
        return 1 if self.failed else 0


class State:
    pass


st = State()


def t_user():
    st.uid, st.gid = lh.ensure_user()
    stale = lh.reap_stale()
    if stale:
        diag("killed stale processes of %s from a dead run: %s" % (lh.USER, stale))
    diag("user %s uid %d gid %d" % (lh.USER, st.uid, st.gid))


def t_start_hosts():
    st.work = lh.make_workdir()
    st.migdir = os.path.join(st.work, "migrate")
    st.a = lh.Host("a", st.work, st.migdir, wait=False)
    st.b = lh.Host("b", st.work, st.migdir, private_mounts=True, wait=False)
    lh.wait_ready(st.a, st.b)
    for h in (st.a, st.b):
        diag("host %s (pid %d%s): socket after %.2f s, first virsh version answered "
             "after %.2f s (QEMU probe)" % (h.name, h.pid, ", private mounts"
                                            if h.private_mounts else "",
                                            h.times["socket"], h.times["ready"]))


def t_root_connects():
    for h in (st.a, st.b):
        caps = h.virsh("capabilities")
        check("<uuid>%s</uuid>" % h.host_uuid in caps,
              "host %s: capabilities do not show host_uuid %s" % (h.name, h.host_uuid))
    check(st.a.host_uuid != st.b.host_uuid, "both hosts have the same host_uuid")
    diag("root's virsh reaches both session libvirtds; host_uuid %s / %s"
         % (st.a.host_uuid, st.b.host_uuid))


def t_private_view():
    probe = os.path.join(st.migdir, "view-probe")
    r = st.b.run_in_namespace(["/bin/sh", "-c", 'touch "$1" && ls "$2"', "sh",
                               probe, st.migdir], as_user=True,
                              capture_output=True, text=True)
    check(r.returncode == 0, "touch in B's view failed: %s" % r.stderr.strip())
    check(not os.path.exists(probe), "a file made in B's view shows in A's view")
    check(os.path.exists(st.b.real_path(probe)),
          "B's file is not in B's private directory %s" % st.b.private_dir)
    os.unlink(st.b.real_path(probe))
    with open(os.path.join(st.migdir, "a-only"), "w"):
        pass
    r = st.b.run_in_namespace(["ls", "-A", st.migdir], capture_output=True, text=True)
    os.unlink(os.path.join(st.migdir, "a-only"))
    check("a-only" not in r.stdout.split(), "A's file shows in B's view")


SPAWN_SERVER = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
c, _ = s.accept()
c.sendall(b"%d %d" % (os.getpid(), os.getuid()))
c.close()
"""


def t_spawn():
    path = os.path.join(st.migdir, "spawn.sock")
    for as_user in (False, True):
        p = st.b.spawn(["/usr/bin/python3", "-c", SPAWN_SERVER, path], as_user=as_user,
                       log=os.path.join(st.b.dir, "spawn.log"))
        real = st.b.real_path(path)
        deadline = time.monotonic() + 30
        while not os.path.exists(real):
            check(p.poll() is None, "spawned process exited with %s" % p.returncode)
            check(time.monotonic() < deadline, "no %s after 30 s" % real)
            time.sleep(0.05)
        check(not os.path.exists(path), "B's socket shows in A's view")
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(30)
        c.connect(real)
        pid, uid = map(int, c.recv(64).split())
        c.close()
        check(p.wait(30) == 0, "spawned process failed")
        os.unlink(real)
        check(pid == p.pid, "spawn's Popen pid %d is not the program's %d" % (p.pid, pid))
        check(uid == (st.uid if as_user else 0), "spawned as uid %d" % uid)


def t_domain(name, key):
    def fn():
        pattern = os.path.join(st.work, "pattern-%s.bin" % name)
        data = lh.make_pattern(pattern)
        st.__dict__[key] = (name, data)
        st.a.create_domain(name, pattern=pattern)
        diag("domain %s started on A in %.2f s" % (name, st.a.last_create_seconds))
        check(st.a.domains() == [name] or name in st.a.domains(),
              "%s not running on A" % name)
        got = st.a.pmemsave(name, lh.PATTERN_ADDR, len(data))
        check(got == data, "pattern not in %s's RAM on A (-device loader)" % name)
    return fn


def t_migrate(key, channels):
    def fn():
        name, _ = st.__dict__[key]
        path = os.path.join(st.migdir, "relay.sock")
        st.relay = Relay(path, st.b.real_path(path))
        try:
            args = ["migrate", "--live", "--p2p", name, st.b.uri,
                    "--migrateuri", "unix://" + path]
            if channels > 1:
                args += ["--parallel", "--parallel-connections", str(channels)]
            diag("virsh -c A " + " ".join(args))
            t0 = time.monotonic()
            st.a.virsh(*args, timeout=MIGRATE_TIMEOUT)
            diag("migration with %d channel%s took %.2f s" % (
                channels, "s" if channels > 1 else "", time.monotonic() - t0))
            st.relay.wait_idle()
        finally:
            st.relay.close()
            for c in st.relay.connections:
                diag("relay connection %d: head %s, %d bytes A->B, %d bytes B->A%s"
                     % (c["index"], c["head"].hex(), c["a2b"], c["b2a"],
                        ", " + c["error"] if c["error"] else ""))
        st.__dict__[key + "_conns"] = st.relay.connections
    return fn


def t_relay_count(key, channels):
    def fn():
        conns = st.__dict__[key + "_conns"]
        main = [c for c in conns if c["head"].startswith(QEVM)]
        multifd = [c for c in conns if c["head"].startswith(MULTIFD)]
        expected = 1 if channels == 1 else 1 + channels
        check(len(conns) == expected, "relay saw %d connections, expected %d"
              % (len(conns), expected))
        check(len(main) == 1, "%d main channels (QEVM)" % len(main))
        check(len(multifd) == (0 if channels == 1 else channels),
              "%d multifd channels" % len(multifd))
        errors = [c["error"] for c in conns if c["error"]]
        check(not errors, "relay errors: %s" % errors)
    return fn


def t_location(key):
    def fn():
        name, _ = st.__dict__[key]
        check(name in st.b.domains(), "%s is not running on B" % name)
        state = st.b.virsh("domstate", name).strip()
        check(state == "running", "%s on B is %r" % (name, state))
        left = st.a.virsh("list", "--all", "--name").split()
        check(name not in left, "%s is still on A" % name)
    return fn


def t_memory(key):
    def fn():
        name, data = st.__dict__[key]
        got = st.b.pmemsave(name, lh.PATTERN_ADDR, len(data))
        check(got == data, "%s's RAM on B differs from the pattern" % name)
    return fn


def t_stop():
    pids = {h.name: h.own_pids() + [h.pid] for h in (st.a, st.b)}
    notes = []
    for h in (st.a, st.b):
        t0 = time.monotonic()
        notes += h.stop()
        diag("host %s stopped in %.2f s (QEMUs killed: %d)"
             % (h.name, time.monotonic() - t0, len(h.killed) - (h.pid in h.killed)))
    for n in notes:
        diag(n)
    alive = [p for ps in pids.values() for p in ps
             if os.path.exists("/proc/%d" % p) and not lh._is_zombie(p)]
    check(not alive, "processes still alive after stop: %s" % alive)
    check(not st.a.own_pids() and not st.b.own_pids(), "host processes remain")


def main():
    reason = lh.missing_requirements()
    if reason:
        print("1..0 # SKIP %s" % reason)
        return 0
    lh.exit_on_signals()
    s = Suite()
    s.add("throwaway user", t_user)
    s.add("two session libvirtds start", t_start_hosts, ["throwaway user"])
    s.add("root's virsh reaches both, own host_uuids", t_root_connects,
          ["two session libvirtds start"])
    s.add("B's migration dir is private to B", t_private_view,
          ["two session libvirtds start"])
    s.add("B.spawn runs in B's view, as root or as the user", t_spawn,
          ["two session libvirtds start"])
    for key, channels, dom in (("one", 1, "vm-one"), ("four", 4, "vm-four")):
        tag = "%d channel%s" % (channels, "s" if channels > 1 else "")
        s.add("%s: domain with a loader pattern starts on A" % tag, t_domain(dom, key),
              ["two session libvirtds start"])
        s.add("%s: virsh migrate --p2p through the relay" % tag,
              t_migrate(key, channels),
              ["%s: domain with a loader pattern starts on A" % tag])
        s.add("%s: relay connections" % tag, t_relay_count(key, channels),
              ["%s: virsh migrate --p2p through the relay" % tag])
        s.add("%s: running on B, gone from A" % tag, t_location(key),
              ["%s: virsh migrate --p2p through the relay" % tag])
        s.add("%s: RAM pattern intact on B" % tag, t_memory(key),
              ["%s: running on B, gone from A" % tag])
    s.add("hosts stop, nothing left running", t_stop, ["two session libvirtds start"])
    try:
        return s.run()
    finally:
        lh.cleanup()


if __name__ == "__main__":
    sys.exit(main())
