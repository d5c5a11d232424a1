#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: virt-migrated speaks systemd's notify protocol (the unit is
# Type=notify).  The real daemon runs with NOTIFY_SOCKET naming a datagram
# unix socket made here, as systemd's does:
#
#   - nothing but its notifications arrive there, and READY=1 comes once,
#     with a STATUS= line naming the control socket;
#   - when READY=1 arrives the control socket answers a command at once
#     (readiness means serving, not just started);
#   - on SIGTERM it says STOPPING=1 and exits with status 0;
#   - without NOTIFY_SOCKET it starts and stops just the same.
#
# Each daemon is stopped by its pid, and the work directory removed, however
# the tests went.
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT = 20

builddir = os.environ.get("G_TEST_BUILDDIR") or os.path.dirname(os.path.abspath(__file__))
daemon_path = os.path.join(builddir, "..", "driver", "virt-migrated")
results = []


def report(name, ok, diag=""):
    results.append((name, ok, diag))


def recv_notifications(sock, until, deadline):
    """Datagrams from @sock until one holds the line @until or @deadline
    passes.  Returns: the list of messages, each a list of lines."""
    messages = []
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        lines = data.decode("utf-8", "replace").split("\n")
        messages.append([line for line in lines if line])
        if until in lines:
            break
    return messages


def ask(socket_path):
    """Connects to the control socket and runs query-migrations.
    Returns: the reply object, or raises."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(socket_path)
        # QMP's capabilities negotiation first (docs/control.md), then the command.
        c.sendall(json.dumps({"execute": "qmp_capabilities", "id": "n0"}).encode() + b"\n")
        c.sendall(json.dumps({"execute": "query-migrations", "id": "n1"}).encode() + b"\n")
        buf = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                raise RuntimeError("the control socket closed before answering")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                reply = json.loads(line)
                # The greeting and qmp_capabilities' answer come first: ours names n1.
                if reply.get("id") == "n1":
                    return reply


def start(tmp, name, env):
    runtime = os.path.join(tmp, name)
    conf = os.path.join(tmp, "empty.conf")
    open(conf, "w").close()
    log = open(os.path.join(tmp, name + ".log"), "w")
    proc = subprocess.Popen(
        [daemon_path, "--config", conf, "--runtime-dir", runtime, "--bus", "none",
         "--tls-x509-dir="],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc, os.path.join(runtime, "virt-migrated.sock")


def stop(proc, signal_it=True):
    """SIGTERM (once: as systemd, which waits after it), then the exit
    status (SIGKILL after TIMEOUT)."""
    if signal_it and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def log_of(tmp, name):
    try:
        with open(os.path.join(tmp, name + ".log")) as f:
            return f.read()
    except OSError:
        return ""


def test_notify(tmp):
    notify_path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    env.pop("LISTEN_FDS", None)
    proc, control = start(tmp, "notify", env)
    try:
        messages = recv_notifications(sock, "READY=1", time.monotonic() + TIMEOUT)
        lines = [line for m in messages for line in m]
        ready = [m for m in messages if "READY=1" in m]
        # Asked the moment READY=1 is read, before anything else happens.
        answer = None
        if ready:
            try:
                answer = ask(control)
            except Exception as e:  # noqa: BLE001 - the reason goes into the report
                answer = e
        report("/notify/ready-once-serving",
               len(ready) == 1 and isinstance(answer, dict) and "return" in answer,
               "notifications: %r\nanswer: %r\nlog:\n%s" % (messages, answer,
                                                              log_of(tmp, "notify")))
        statuses = [line for m in ready for line in m if line.startswith("STATUS=")]
        report("/notify/ready-status",
               len(statuses) == 1 and control in statuses[0],
               "READY message: %r" % (ready,))
        unknown = [line for line in lines
                   if line.split("=", 1)[0] not in ("READY", "STATUS", "STOPPING")]
        report("/notify/only-notifications", not unknown, "unexpected lines: %r" % unknown)

        proc.send_signal(signal.SIGTERM)
        messages = recv_notifications(sock, "STOPPING=1", time.monotonic() + TIMEOUT)
        status = stop(proc, signal_it=False)
        stopping = [m for m in messages if "STOPPING=1" in m]
        more_ready = [m for m in messages if "READY=1" in m]
        report("/notify/stopping-on-sigterm",
               len(stopping) == 1 and not more_ready and status == 0,
               "notifications after SIGTERM: %r, exit status %r\nlog:\n%s"
               % (messages, status, log_of(tmp, "notify")))
    finally:
        stop(proc)
        sock.close()


def test_without_notify_socket(tmp):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    proc, control = start(tmp, "plain", env)
    answer = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = ask(control)
                break
            except (OSError, RuntimeError) as e:
                answer = e
                time.sleep(0.05)
    finally:
        status = stop(proc)
    report("/notify/without-notify-socket",
           isinstance(answer, dict) and "return" in answer and status == 0,
           "answer: %r, exit status %r\nlog:\n%s" % (answer, status, log_of(tmp, "plain")))


def main():
    print("1..5")
    if not os.access(daemon_path, os.X_OK):
        print("Bail out! %s is not built" % daemon_path)
        return 1
    # sun_path holds 108 bytes: keep the directory short.
    tmp = tempfile.mkdtemp(prefix="vmig-notify.", dir="/tmp")
    try:
        test_notify(tmp)
        test_without_notify_socket(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for n, (name, ok, diag) in enumerate(results, 1):
        print("%s %d %s" % ("ok" if ok else "not ok", n, name))
        if not ok:
            for line in diag.splitlines():
                print("# " + line)
    if len(results) != 5:
        print("Bail out! %d results for 5 tests" % len(results))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
