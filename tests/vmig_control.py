# SPDX-License-Identifier: LGPL-2.1-or-later
# vmig_control: virt-migrated's control socket, as a management app speaks it
# (JSON lines, QMP conventions, fds by SCM_RIGHTS in the command's sendmsg).
# Shared by the Python suites (dbus-suite.py, test-libvirt.py).  Stdlib only.

import json
import socket
import time


def socket_accepts(path):
    """Returns: whether a unix stream socket at @path takes a connection now."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class ControlError(Exception):
    """An error answer; .desc is the daemon's message."""

    def __init__(self, command, desc):
        super().__init__("%s: %s" % (command, desc))
        self.desc = desc


class Control:
    def __init__(self, path, timeout=120):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.events = []
        self.next_id = 0
        # QMP: the greeting, then capabilities negotiation (no command and
        # no event before it).
        self.greeting = json.loads(self.file.readline())
        package = self.greeting["QMP"]["version"]["package"]
        if not package.startswith("virt-migrated "):
            raise ControlError("connect", "%s greets as %r, not virt-migrated"
                               % (path, package))
        self.execute("qmp_capabilities")

    def close(self):
        self.file.close()
        self.sock.close()

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ControlError("read", "the daemon closed the connection")
        return json.loads(line)

    def execute(self, command, arguments=None, fds=()):
        """Runs one command; returns its "return" value, or raises ControlError."""
        self.next_id += 1
        line = json.dumps({"execute": command, "arguments": arguments or {},
                           "id": self.next_id}).encode() + b"\n"
        socket.send_fds(self.sock, [line], list(fds))
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise ControlError(command, reply["error"]["desc"])
            return reply["return"]

    def wait_event(self, name, migration=None, timeout=120):
        """Returns the data of the next event @name (of @migration), queued or to come."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["event"] == name and (
                        migration is None or event["data"].get("migration") == migration):
                    del self.events[i]
                    return event["data"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError("wait", "no %s event within %d s" % (name, timeout))
            self.sock.settimeout(left)
            self.events.append(self._read())
