#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: virt-migrated's D-Bus service, checked from outside with
# python3-dbus (a third-party client, not the project's own C code).
#
# Run by tests/test-dbus.sh under dbus-run-session: that private session
# bus is the source "host"'s; this script starts a second dbus-daemon for
# the destination "host" (each daemon owns org.virtmigrate on its bus), a
# third one from the system-bus policy in data/ for the policy and expiry
# checks, real TCG QEMUs, and the daemons.  Everything it starts is
# stopped by pid at the end, however the tests went.
#
# Environment: G_TEST_SRCDIR (tests/), G_TEST_BUILDDIR (the build's tests/),
# DBUS_SESSION_BUS_ADDRESS (from dbus-run-session); VMIG_DAEMON_WRAPPER runs
# the daemons under a wrapper (e.g. "valgrind --leak-check=full").

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

SRCDIR = os.environ["G_TEST_SRCDIR"]
sys.path.insert(0, SRCDIR)
sys.dont_write_bytecode = True
import vmig_check  # noqa: E402  (tests/, found through G_TEST_SRCDIR)
import vmig_control  # noqa: E402
from vmig_check import Failure, check, check_equal  # noqa: E402
from vmig_control import socket_accepts  # noqa: E402


class Control(vmig_control.Control):
    """The control socket; its errors fail the test."""

    def execute(self, command, arguments=None, fds=()):
        try:
            return super().execute(command, arguments, fds)
        except vmig_control.ControlError as e:
            raise Failure(str(e))
BUILDDIR = os.environ["G_TEST_BUILDDIR"]
DATADIR = os.path.join(SRCDIR, "..", "data")
DAEMON = os.path.join(BUILDDIR, "..", "driver", "virt-migrated")
EXAMPLE = os.path.join(BUILDDIR, "..", "examples", "vmig-example-app")
QEMU = os.environ.get("VMIG_TEST_QEMU", "qemu-system-x86_64")

NAME = "org.virtmigrate"
DRIVER_PATH = "/org/virtmigrate/Driver"
MIGRATION_PREFIX = "/org/virtmigrate/migration/"
DRIVER_IFACE = "org.virtmigrate.Driver1"
MIGRATION_IFACE = "org.virtmigrate.Migration1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
MANAGER_PATH = "/org/virtmigrate"
MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"
TIMEOUT = 60

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

processes = []  # every Popen we started, stopped by pid at the end
tmp = tempfile.mkdtemp(prefix="vmig-dbus-")


def start(argv, env=None, log=None, stdout=None, **kwargs):
    out = open(log, "ab") if log else subprocess.DEVNULL
    p = subprocess.Popen(argv, env=env, stdout=stdout or out,
                         stderr=subprocess.STDOUT if log else subprocess.DEVNULL, **kwargs)
    processes.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(predicate, what, timeout=TIMEOUT):
    return vmig_check.wait_for(predicate, what, timeout)


# ---- buses, QEMUs, daemons --------------------------------------------------------

def start_bus(config=None):
    """Starts a dbus-daemon; returns its address."""
    argv = ["dbus-daemon", "--nofork", "--print-address=1"]
    argv += ["--config-file=" + config] if config else ["--session"]
    p = start(argv, stdout=subprocess.PIPE)
    address = p.stdout.readline().decode().strip()
    check(address, "dbus-daemon printed no address")
    return address


def start_qemu(name, incoming=False):
    """Starts a TCG guest (no disk: the firmware idles); returns its QMP socket path."""
    qmp = os.path.join(tmp, name + ".qmp")
    argv = [QEMU, "-machine", "pc", "-accel", "tcg", "-m", "64", "-nodefaults",
            "-display", "none", "-qmp", "unix:%s,server=on,wait=off" % qmp]
    if incoming:
        argv += ["-incoming", "defer"]
    start(argv, log=os.path.join(tmp, name + ".log"), preexec_fn=os.setpgrp)
    wait_for(lambda: socket_accepts(qmp), "QEMU %s's monitor" % name)
    return qmp


class Daemon:
    def __init__(self, name, bus, address, extra=(), daemon_env=None):
        self.dir = os.path.join(tmp, name)
        self.socket = os.path.join(self.dir, "virt-migrated.sock")
        env = dict(os.environ)
        # The daemon carries the interface XML compiled in; the directory
        # that overrides it is set only for the daemons that ask.
        env.pop("VIRT_MIGRATE_INTERFACES_DIR", None)
        env.update(daemon_env or {})
        env["DBUS_SESSION_BUS_ADDRESS" if bus == "session" else "DBUS_SYSTEM_BUS_ADDRESS"] = address
        wrapper = os.environ.get("VMIG_DAEMON_WRAPPER", "").split()
        self.process = start(wrapper + [DAEMON, "--runtime-dir", self.dir, "--bus", bus, "--verbose",
                              "--channel-timeout", "20"] + list(extra),
                             env=env, log=os.path.join(tmp, name + ".log"))
        self.bus_address = address
        self.bus = dbus.bus.BusConnection(address)
        wait_for(lambda: os.path.exists(self.socket) and self.bus.name_has_owner(NAME),
                 "daemon %s on its bus" % name)
        self.control = Control(self.socket)

    def obj(self, path):
        return self.bus.get_object(NAME, path, introspect=False)

    def driver(self):
        return dbus.Interface(self.obj(DRIVER_PATH), DRIVER_IFACE)

    def fds(self):
        return sorted(os.listdir("/proc/%d/fd" % self.process.pid), key=int)


def held(daemon, fd):
    """Returns: the daemon's fds open on what our @fd is open on."""
    st = os.fstat(fd)
    found = []
    for name in os.listdir("/proc/%d/fd" % daemon.process.pid):
        try:
            other = os.stat("/proc/%d/fd/%s" % (daemon.process.pid, name))
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            found.append(int(name))
    return found


def released(daemon, fd, what):
    wait_for(lambda: not held(daemon, fd), "the daemon to close its copies of " + what,
             timeout=10)


def introspect(daemon, path):
    return dbus.Interface(daemon.obj(path), INTROSPECTABLE).Introspect()


def read_data(name):
    with open(os.path.join(DATADIR, name)) as f:
        return f.read()


def dbus_error(call, *args, **kwargs):
    """Runs a call that must fail; returns (error name, message)."""
    try:
        call(*args, **kwargs)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()
    raise Failure("the call succeeded")


def run_loop(done, what, timeout=TIMEOUT):
    """Iterates the GLib main loop until done() is true."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        ctx.iteration(False) or time.sleep(0.005)


def plain(value):
    """A dbus-python value as plain Python."""
    if isinstance(value, (dbus.Array, list)):
        return [plain(v) for v in value]
    if isinstance(value, (dbus.Dictionary, dict)):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath)):
        return str(value)
    if isinstance(value, (dbus.Double,)):
        return float(value)
    if isinstance(value, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16,
                          dbus.UInt32, dbus.UInt64)):
        return int(value)
    return value


# ---- the hosts ------------------------------------------------------------------------

src = dst = None


def setup():
    global src, dst
    dst_address = start_bus()
    # TLS between the two (scripts/make-tls-certs.sh, certtool): the
    # migration over D-Bus shows its session in the Tls property.
    certs = os.path.join(tmp, "pki")
    subprocess.run([os.path.join(SRCDIR, "..", "scripts", "make-tls-certs.sh"), certs,
                    "src-host", "dst-host"], check=True, stdout=subprocess.DEVNULL)
    src = Daemon("src-host", "session", os.environ["DBUS_SESSION_BUS_ADDRESS"],
                 ["--keep-finished", "600", "--tls-x509-dir",
                  os.path.join(certs, "src-host")])
    dst = Daemon("dst-host", "session", dst_address,
                 ["--keep-finished", "600", "--tls-x509-dir", os.path.join(certs, "dst-host")],
                 daemon_env={"VIRT_MIGRATE_INTERFACES_DIR": DATADIR})


# ---- tests ----------------------------------------------------------------------------

def test_tree():
    """The object tree from the root, as busctl/gdbus walk it."""
    root = introspect(src, "/")
    check('<node name="org"/>' in root, "/ lists no 'org': " + root)
    top = introspect(src, MANAGER_PATH)
    check('<node name="Driver"/>' in top, "/org/virtmigrate lists no Driver")
    check('<interface name="%s">' % MANAGER_IFACE in top,
          "/org/virtmigrate has no ObjectManager: " + top)
    # src runs with the XML compiled in, dst with VIRT_MIGRATE_INTERFACES_DIR=data/.
    for daemon in (src, dst):
        check_equal(introspect(daemon, DRIVER_PATH), read_data("org.virtmigrate.Driver1.xml"),
                    "Introspect of " + DRIVER_PATH)
    out = subprocess.run(["gdbus", "introspect", "--session", "--dest", NAME,
                          "--object-path", "/", "--recurse"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "gdbus introspect failed: " + out.stderr)
    check("interface org.virtmigrate.Driver1" in out.stdout,
          "gdbus introspect --recurse misses Driver1: " + out.stdout)
    if shutil.which("busctl"):
        out = subprocess.run(["busctl", "--user", "tree", NAME], capture_output=True,
                             text=True, timeout=TIMEOUT)
        check(out.returncode == 0, "busctl tree failed: " + out.stderr)
        check(DRIVER_PATH in out.stdout, "busctl tree misses the driver: " + out.stdout)


def test_get_tunables():
    """GetTunables lists the QEMU's stable tunables, as query-tunables does."""
    qmp = start_qemu("tunables")
    rows = plain(src.driver().GetTunables("qmp:" + qmp, timeout=TIMEOUT))
    by_name = {name: (type_, values) for name, type_, values in rows}
    catalog = src.control.execute("query-tunables", {"domain": "qmp:" + qmp})
    stable = [t["name"] for t in catalog["tunables"] if not t.get("unstable")]
    check_equal(sorted(by_name), sorted(stable), "GetTunables names")
    check_equal(by_name["max-bandwidth"], ("int", []), "max-bandwidth")
    check_equal(by_name["multifd"], ("boolean", []), "multifd")
    check("zlib" in by_name["multifd-compression"][1], "multifd-compression values")
    check_equal(len(by_name), 26 + 19, "stable tunables of QEMU 7.2")
    for method in (src.driver().GetTunables, src.driver().ListTunables):
        name, message = dbus_error(method, "qmp:" + tmp + "/nothing.qmp", timeout=TIMEOUT)
        check(name.startswith("org.virtmigrate.Error."), "error name " + name)
        check("nothing.qmp" in message, "the error names the socket: " + message)

    # ListTunables: query-tunables' entries, typed.
    listed = src.driver().ListTunables("qmp:" + qmp, timeout=TIMEOUT)
    wire = [t for t in catalog["tunables"] if not t.get("unstable")]
    check_equal([plain(t) for t in listed], wire, "ListTunables against query-tunables")
    by_name = {str(t["name"]): t for t in listed}
    check(isinstance(by_name["max-bandwidth"]["current"], dbus.Int64),
          "max-bandwidth's current is %r" % by_name["max-bandwidth"]["current"])
    check_equal(str(by_name["max-bandwidth"]["unit"]), "bytes/s", "max-bandwidth's unit")
    check_equal(str(by_name["max-bandwidth"]["kind"]), "parameter", "max-bandwidth's kind")
    check(isinstance(by_name["multifd"]["current"], dbus.Boolean), "multifd's current")
    check(bool(by_name["multifd"]["negotiated"]), "multifd is negotiated")
    check_equal(by_name["multifd-compression"]["values"].signature, "s",
                "an enum's values are as")
    check_equal(str(by_name["tls-creds"]["managed"]), "--tls", "tls-creds is managed")


def test_version():
    """Driver1's Version property is query-version's."""
    props = src.obj(DRIVER_PATH)
    version = src.control.execute("query-version")["version"]
    check_equal(str(props.Get(DRIVER_IFACE, "Version", dbus_interface=PROPS_IFACE)), version,
                "Get(Version)")
    check_equal(plain(props.GetAll(DRIVER_IFACE, dbus_interface=PROPS_IFACE)),
                {"Version": version}, "GetAll")
    name, _ = dbus_error(props.Set, DRIVER_IFACE, "Version", "9", dbus_interface=PROPS_IFACE,
                         signature="ssv")
    check_equal(name, "org.freedesktop.DBus.Error.PropertyReadOnly", "Set(Version)")
    name, _ = dbus_error(props.Get, DRIVER_IFACE, "Speed", dbus_interface=PROPS_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownProperty", "Get(Speed)")
    name, _ = dbus_error(props.GetAll, MIGRATION_IFACE, dbus_interface=PROPS_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownInterface", "GetAll(Migration1)")


def managed_objects(daemon):
    return plain(dbus.Interface(daemon.obj(MANAGER_PATH), MANAGER_IFACE).GetManagedObjects())


def test_object_manager():
    """ObjectManager: the objects with their properties; InterfacesAdded/Removed."""
    address = start_bus()
    daemon = Daemon("manager-host", "session", address, ["--keep-finished", "1"])
    version = daemon.control.execute("query-version")["version"]
    check_equal(managed_objects(daemon), {DRIVER_PATH: {DRIVER_IFACE: {"Version": version}}},
                "GetManagedObjects with no migration")
    seen = {"added": [], "removed": []}
    daemon.bus.add_signal_receiver(lambda path, ifaces: seen["added"].append(
        (str(path), plain(ifaces))), "InterfacesAdded", MANAGER_IFACE, NAME, MANAGER_PATH)
    daemon.bus.add_signal_receiver(lambda path, ifaces: seen["removed"].append(
        (str(path), plain(ifaces))), "InterfacesRemoved", MANAGER_IFACE, NAME, MANAGER_PATH)
    daemon.driver().ListMigrations()

    qmp = start_qemu("manager", incoming=True)
    main_a, main_b = socket.socketpair()
    mid = daemon.control.execute("prepare-incoming", {"domain": "qmp:" + qmp},
                                 fds=[main_b.fileno()])["migration"]
    main_b.close()
    path = MIGRATION_PREFIX + mid
    run_loop(lambda: seen["added"], "InterfacesAdded")
    added_path, added = seen["added"][0]
    check_equal(added_path, path, "InterfacesAdded's object")
    check_equal(sorted(added), [MIGRATION_IFACE], "InterfacesAdded's interfaces")
    check_equal(added[MIGRATION_IFACE]["Role"], "destination", "InterfacesAdded's Role")
    objects = managed_objects(daemon)
    check_equal(sorted(objects), [DRIVER_PATH, path], "GetManagedObjects' objects")
    check_equal(objects[path][MIGRATION_IFACE],
                plain(daemon.obj(path).GetAll(MIGRATION_IFACE, dbus_interface=PROPS_IFACE)),
                "GetManagedObjects against GetAll")

    # A GDBus client (GDBusObjectManagerClient) sees the same.
    from gi.repository import Gio
    connection = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    client = Gio.DBusObjectManagerClient.new_sync(
        connection, Gio.DBusObjectManagerClientFlags.DO_NOT_AUTO_START, NAME, MANAGER_PATH,
        None, None, None)
    check_equal(sorted(o.get_object_path() for o in client.get_objects()),
                [DRIVER_PATH, path], "GDBusObjectManagerClient's objects")
    check_equal(client.get_interface(DRIVER_PATH, DRIVER_IFACE)
                .get_cached_property("Version").unpack(), version, "GDBus' Version")
    connection.close_sync(None)

    daemon.control.execute("cancel", {"migration": mid})
    main_a.close()
    run_loop(lambda: seen["removed"], "InterfacesRemoved", timeout=30)
    check_equal(seen["removed"], [(path, [MIGRATION_IFACE])], "InterfacesRemoved")
    check_equal(len(seen["added"]), 1, "InterfacesAdded once")
    check_equal(sorted(managed_objects(daemon)), [DRIVER_PATH], "GetManagedObjects at the end")
    stop(daemon.process)
    check_equal(daemon.process.returncode, 0, "the daemon's exit status")


def test_migration_channels_over_dbus():
    """4 channels supplied over D-Bus; properties match the negotiation record."""
    src_qmp = start_qemu("src1")
    dst_qmp = start_qemu("dst1", incoming=True)
    main_a, main_b = socket.socketpair()
    seen = {"requested": None, "states": [], "finished": {}, "progress": []}

    dst_id = dst.control.execute("prepare-incoming", {"domain": "qmp:" + dst_qmp,
                                                      "tls": True},
                                 fds=[main_b.fileno()])["migration"]
    main_b.close()
    dst_path = MIGRATION_PREFIX + dst_id

    def on_requested(count, path=None):
        seen["requested"] = (str(path), int(count))

    def on_changed(interface, changed, invalidated, path=None):
        if path == seen.get("src_path") and "State" in changed:
            seen["states"].append(str(changed["State"]))

    def on_finished(host):
        def handler(result, error, path=None):
            seen["finished"][(host, str(path))] = (str(result), str(error))
        return handler

    src.bus.add_signal_receiver(on_requested, "ChannelsRequested", MIGRATION_IFACE, NAME,
                                path_keyword="path")
    src.bus.add_signal_receiver(on_changed, "PropertiesChanged", PROPS_IFACE, NAME,
                                path_keyword="path")
    src.bus.add_signal_receiver(lambda p, path=None: seen["progress"].append((str(path), p)),
                                "Progress", MIGRATION_IFACE, NAME, path_keyword="path")
    # Both daemons name their first migration m1: the host tells them apart.
    src.bus.add_signal_receiver(on_finished("src"), "Finished", MIGRATION_IFACE, NAME,
                                path_keyword="path")
    dst.bus.add_signal_receiver(on_finished("dst"), "Finished", MIGRATION_IFACE, NAME,
                                path_keyword="path")
    # The receivers are set up once the bus has the matches: a round trip does that.
    src.driver().ListMigrations()
    dst.driver().ListMigrations()

    src_id = src.control.execute("migrate", {"domain": "qmp:" + src_qmp, "channels": 4,
                                             "tls": True, "tls-hostname": "dst-host",
                                             "tunables": ["max-bandwidth=1G",
                                                          "downtime-limit=400"]},
                                 fds=[main_a.fileno()])["migration"]
    main_a.close()
    src_path = MIGRATION_PREFIX + src_id
    seen["src_path"] = src_path

    run_loop(lambda: seen["requested"], "ChannelsRequested")
    # Protocol version 2: QEMU's stream on a data channel of its own, beside 4 multifd.
    check_equal(seen["requested"], (src_path, 5), "ChannelsRequested")
    # Three more than asked for: the source keeps 5 and closes 3 at once (its
    # answer says so); the destination keeps at most what it offered.
    pairs = [socket.socketpair() for _ in range(5 + 3)]
    supply = lambda d, path, ends: d.obj(path).SupplyChannels(
        [dbus.types.UnixFd(s) for s in ends], dbus_interface=MIGRATION_IFACE, timeout=TIMEOUT)
    got = supply(src, src_path, [a for a, b in pairs])
    check_equal(tuple(int(n) for n in got), (5, 3), "SupplyChannels with 3 surplus fds")
    got = supply(dst, dst_path, [b for a, b in pairs])
    check_equal(int(got[0]) + int(got[1]), 8, "the destination's SupplyChannels answer")
    for a, b in pairs:
        a.close()
        b.close()

    run_loop(lambda: ("src", src_path) in seen["finished"] and
             ("dst", dst_path) in seen["finished"], "Finished on both daemons")
    check_equal(seen["finished"][("src", src_path)], ("completed", ""), "source Finished")
    check_equal(seen["finished"][("dst", dst_path)], ("completed", ""), "destination Finished")
    for state in ("negotiating", "migrating", "switchover", "completed"):
        check(state in seen["states"], "no PropertiesChanged to State=%s (saw %r)"
              % (state, seen["states"]))
    check_equal(seen["states"][-1], "completed", "the last State change")
    # QEMU's last word on the stream comes as Progress, with every member typed.
    check(seen["progress"], "no Progress signal")
    path, last = seen["progress"][-1]
    check_equal(path, src_path, "Progress's object")
    check_equal(str(last["status"]), "completed", "the last Progress status")
    for key in ("transferred", "remaining", "total", "throughput"):
        check(isinstance(last[key], dbus.UInt64), "Progress %s is %r" % (key, last[key]))
    check(isinstance(last["expected-downtime"], dbus.Int64), "Progress expected-downtime")
    check(int(last["transferred"]) > 0 and int(last["total"]) >= 64 << 20,
          "Progress figures: %r" % plain(last))

    for daemon, path, mid in ((src, src_path, src_id), (dst, dst_path, dst_id)):
        props = plain(daemon.obj(path).GetAll(MIGRATION_IFACE, dbus_interface=PROPS_IFACE))
        record = daemon.control.execute("query-migration", {"migration": mid})
        role = record["role"]
        check_equal(props["State"], "completed", role + " State")
        check_equal(props["Role"], role, role + " Role")
        check_equal(props["ProtocolVersion"], record["version"], role + " ProtocolVersion")
        check_equal(props["Features"], [f["name"] for f in record["features"]],
                    role + " Features")
        check("multifd" in props["Features"], role + " negotiated no multifd")
        check_equal(props["Channels"], record["channels"]["received"], role + " Channels")
        check_equal(props["Channels"], 4, role + " Channels")
        check_equal(props["Hypervisor"], record["hypervisor"], role + " Hypervisor")
        check_equal(props["PeerHypervisor"], record["peer-hypervisor"],
                    role + " PeerHypervisor")
        check(props["Hypervisor"].startswith("QEMU "), role + " Hypervisor " + props["Hypervisor"])
        check_equal(props["Tunables"], record.get("tunables", {}).get(role, {}),
                    role + " Tunables")
        check(isinstance(record.get("tls"), dict), role + " record's tls: %r" % record.get("tls"))
        check_equal(props["Tls"], dict(record["tls"], state="up"), role + " Tls")
        check_equal(props["Tls"]["version"], "TLS1.3", role + " Tls version")
        check_equal(props["Tls"]["peer-dn"],
                    "CN=%s,O=virt-migrate" % ("dst-host" if role == "source" else "src-host"),
                    role + " Tls peer-dn")
        check_equal(daemon.obj(path).Get(MIGRATION_IFACE, "Features",
                                         dbus_interface=PROPS_IFACE),
                    props["Features"], role + " Get(Features)")
        check_equal(introspect(daemon, path), read_data("org.virtmigrate.Migration1.xml"),
                    "Introspect of " + path)
        check(path in [str(p) for p in daemon.driver().ListMigrations()],
              "ListMigrations misses " + path)
    check_equal(plain(src.obj(src_path).Get(MIGRATION_IFACE, "Tunables",
                                            dbus_interface=PROPS_IFACE)),
                {"max-bandwidth": 1 << 30, "downtime-limit": 400, "multifd-channels": 4},
                "source Tunables")
    if shutil.which("busctl"):
        out = subprocess.run(["busctl", "--user", "tree", NAME], capture_output=True,
                             text=True, timeout=TIMEOUT)
        check(src_path in out.stdout, "busctl tree misses " + src_path + ": " + out.stdout)


def test_refused():
    """A refused migration's Finished carries the reason."""
    src_qmp = start_qemu("src2")
    dst_qmp = start_qemu("dst2", incoming=True)
    main_a, main_b = socket.socketpair()
    finished = {}

    def on_finished(result, error, path=None):
        finished[str(path)] = (str(result), str(error))

    src.bus.add_signal_receiver(on_finished, "Finished", MIGRATION_IFACE, NAME,
                                path_keyword="path")
    src.driver().ListMigrations()
    dst.control.execute("prepare-incoming", {"domain": "qmp:" + dst_qmp,
                                             "no-features": ["multifd"]},
                        fds=[main_b.fileno()])
    main_b.close()
    src_id = src.control.execute("migrate", {"domain": "qmp:" + src_qmp, "channels": 2,
                                             "require-features": ["multifd"]},
                                 fds=[main_a.fileno()])["migration"]
    main_a.close()
    path = MIGRATION_PREFIX + src_id
    run_loop(lambda: path in finished, "Finished of the refused migration")
    check_equal(finished[path], ("failed", "feature 'multifd' is required by the source "
                                 "but the destination does not offer it"), "Finished")
    check_equal(str(src.obj(path).Get(MIGRATION_IFACE, "State", dbus_interface=PROPS_IFACE)),
                "failed", "State of the refused migration")


def test_refused_start():
    """A migrate refused at once (fd mode) closes its main channel: the destination ends."""
    dst_qmp = start_qemu("dst5", incoming=True)
    src_qmp = start_qemu("src5")
    main_a, main_b = socket.socketpair()
    finished = {}

    def on_finished(result, error, path=None):
        finished[str(path)] = (str(result), str(error))

    dst.bus.add_signal_receiver(on_finished, "Finished", MIGRATION_IFACE, NAME,
                                path_keyword="path")
    dst.driver().ListMigrations()
    mid = dst.control.execute("prepare-incoming", {"domain": "qmp:" + dst_qmp},
                              fds=[main_b.fileno()])["migration"]
    main_b.close()
    try:
        src.control.execute("migrate", {"domain": "qmp:" + src_qmp,
                                        "tunables": ["max-bandwith=1G"]},
                            fds=[main_a.fileno()])
        raise Failure("a migrate with an unknown tunable succeeded")
    except Failure as e:
        check("did you mean 'max-bandwidth'" in str(e), "the refusal: %s" % e)
    main_a.close()
    path = MIGRATION_PREFIX + mid
    run_loop(lambda: path in finished, "the destination's Finished")
    check_equal(finished[path][0], "failed", "the destination's result")
    check("the source driver went away before the handshake began" in finished[path][1],
          "the reason: " + finished[path][1])


def test_bad_calls():
    """Bad calls: each a specific error, fds closed, the daemon still serving."""
    dst_qmp = start_qemu("dst3", incoming=True)
    main_a, main_b = socket.socketpair()
    mid = dst.control.execute("prepare-incoming", {"domain": "qmp:" + dst_qmp},
                              fds=[main_b.fileno()])["migration"]
    main_b.close()
    path = MIGRATION_PREFIX + mid
    obj = dst.obj(path)
    before = dst.fds()

    # Wrong signature: a string where fds go.
    name, message = dbus_error(obj.SupplyChannels, "fd", dbus_interface=MIGRATION_IFACE,
                               signature="s")
    check_equal(name, "org.freedesktop.DBus.Error.InvalidArgs", "wrong signature")
    check("'ah'" in message, "the message names the signature: " + message)

    # A pipe, not a socket: refused, and closed (with the good socket sent beside it).
    r, w = os.pipe()
    good_a, good_b = socket.socketpair()
    name, message = dbus_error(obj.SupplyChannels, [dbus.types.UnixFd(good_b),
                                                    dbus.types.UnixFd(r)],
                               dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.virtmigrate.Error.InvalidChannel", "a pipe as a channel")
    check("not a socket" in message, "the message says what is wrong: " + message)
    # The daemon closed both (it holds no fd on the pipe or on the socket).  The
    # message's own copies go a moment after the reply is sent: poll.
    released(dst, r, "the refused pipe")
    released(dst, good_b.fileno(), "the refused socket")
    for fd in (r, w):
        os.close(fd)
    good_a.close()
    good_b.close()

    # An empty array.
    name, _ = dbus_error(obj.SupplyChannels, dbus.Array([], signature="h"),
                         dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.virtmigrate.Error.InvalidArgument", "no fds")

    # Unknown objects, properties, methods.
    name, _ = dbus_error(dst.obj(MIGRATION_PREFIX + "m999").Cancel,
                         dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.virtmigrate.Error.NotFound", "an unknown migration")
    name, _ = dbus_error(dst.obj("/org/virtmigrate/nothing").Cancel,
                         dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownObject", "an unknown object")
    name, _ = dbus_error(obj.Get, MIGRATION_IFACE, "Speed", dbus_interface=PROPS_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownProperty", "an unknown property")
    name, _ = dbus_error(obj.Set, MIGRATION_IFACE, "State", "completed",
                         dbus_interface=PROPS_IFACE, signature="ssv")
    check_equal(name, "org.freedesktop.DBus.Error.PropertyReadOnly", "Set")
    name, _ = dbus_error(obj.Launch, dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownMethod", "an unknown method")
    name, _ = dbus_error(obj.GetAll, "org.example.Nothing", dbus_interface=PROPS_IFACE)
    check_equal(name, "org.freedesktop.DBus.Error.UnknownInterface", "an unknown interface")

    # Cancel over D-Bus, then SupplyChannels on the ended migration.
    obj.Cancel(dbus_interface=MIGRATION_IFACE)
    check_equal(str(obj.Get(MIGRATION_IFACE, "State", dbus_interface=PROPS_IFACE)),
                "cancelled", "State after Cancel")
    late_a, late_b = socket.socketpair()
    name, message = dbus_error(obj.SupplyChannels, [dbus.types.UnixFd(late_b)],
                               dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.virtmigrate.Error.InvalidState", "SupplyChannels after the end")
    check("cancelled" in message, "the message names the state: " + message)
    released(dst, late_b.fileno(), "a late channel")
    late_a.close()
    late_b.close()
    name, _ = dbus_error(obj.Cancel, dbus_interface=MIGRATION_IFACE)
    check_equal(name, "org.virtmigrate.Error.InvalidState", "Cancel after the end")
    main_a.close()

    # Still serving, with no fd more than before (the main channel went with the end).
    check(path in [str(p) for p in dst.driver().ListMigrations()], "ListMigrations")
    dst.control.execute("query-version")
    after = wait_for(lambda: (lambda f: f if len(f) <= len(before) else None)(dst.fds()),
                     "the daemon to close the fds", timeout=10)
    check(len(after) <= len(before), "fds before %r, after %r" % (before, after))


def system_bus_config(policy_dir):
    """Writes a system-like bus config that includes data/'s policy; returns its path."""
    with open(os.path.join(SRCDIR, "data", "dbus", "system-bus.conf.in")) as f:
        text = f.read()
    address = "unix:path=" + os.path.join(policy_dir, "bus.sock")
    text = text.replace("@POLICY@", os.path.join(DATADIR, "org.virtmigrate.conf"))
    text = text.replace("@ADDRESS@", address)
    path = os.path.join(policy_dir, "system-bus.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_policy_and_expiry():
    """The policy loads in a dbus-daemon; others may read, not act without polkit; finished
    ones expire."""
    policy_dir = os.path.join(tmp, "system-bus")
    os.mkdir(policy_dir)
    os.chmod(tmp, 0o755)
    os.chmod(policy_dir, 0o755)
    address = start_bus(system_bus_config(policy_dir))
    daemon = Daemon("policy-host", "system", address, ["--keep-finished", "1"])
    qmp = start_qemu("dst4", incoming=True)
    main_a, main_b = socket.socketpair()
    mid = daemon.control.execute("prepare-incoming", {"domain": "qmp:" + qmp},
                                 fds=[main_b.fileno()])["migration"]
    main_b.close()
    path = MIGRATION_PREFIX + mid

    if os.geteuid() == 0:
        # As nobody: reading works, acting is denied by the bus itself.
        script = (
            "import dbus, sys\n"
            "bus = dbus.bus.BusConnection(sys.argv[1])\n"
            "o = bus.get_object('%s', sys.argv[2], introspect=False)\n"
            "d = bus.get_object('%s', '%s', introspect=False)\n"
            "print(d.ListMigrations(dbus_interface='%s'))\n"
            "print(o.Get('%s', 'State', dbus_interface='%s'))\n"
            "for call in (lambda: o.Cancel(dbus_interface='%s'),\n"
            "             lambda: d.GetTunables('qmp:/x', dbus_interface='%s')):\n"
            "    try:\n"
            "        call()\n"
            "        print('allowed')\n"
            "    except dbus.exceptions.DBusException as e:\n"
            "        print(e.get_dbus_name(), e.get_dbus_message())\n"
        ) % (NAME, NAME, DRIVER_PATH, DRIVER_IFACE, MIGRATION_IFACE, PROPS_IFACE,
             MIGRATION_IFACE, DRIVER_IFACE)
        nobody = pwd.getpwnam("nobody")

        def demote():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        out = subprocess.run(["/usr/bin/python3", "-c", script, address, path],
                             capture_output=True, text=True, preexec_fn=demote,
                             cwd="/", timeout=TIMEOUT)
        check(out.returncode == 0, "the client as nobody failed: " + out.stderr)
        lines = out.stdout.splitlines()
        check(path in lines[0], "nobody's ListMigrations: " + lines[0])
        state = daemon.control.execute("query-migration", {"migration": mid})["state"]
        check_equal(lines[1], state, "nobody's Get(State)")
        # The bus lets the calls through; the daemon asks polkit, which this
        # bus does not have: a clear error naming the action, at once.
        for line, action in zip(lines[2:], ("org.virtmigrate.manage", "org.virtmigrate.read")):
            check(line.startswith("org.virtmigrate.Error.Authorization ") and
                  "'%s'" % action in line and "polkit" in line,
                  "nobody's call without polkit: " + line)
        check_equal(len(lines), 4, "nobody's output lines")
        check_equal(str(daemon.obj(path).Get(MIGRATION_IFACE, "State",
                                             dbus_interface=PROPS_IFACE)),
                    state, "State after nobody's Cancel")

    # Root may; then the finished migration is forgotten after --keep-finished.
    daemon.obj(path).Cancel(dbus_interface=MIGRATION_IFACE)
    main_a.close()
    wait_for(lambda: path not in [str(p) for p in daemon.driver().ListMigrations()],
             "the cancelled migration to expire", timeout=30)
    name, _ = dbus_error(daemon.obj(path).Get, MIGRATION_IFACE, "State",
                         dbus_interface=PROPS_IFACE)
    check_equal(name, "org.virtmigrate.Error.NotFound", "an expired migration")
    check_equal(daemon.control.execute("query-migrations"), [], "query-migrations")
    stop(daemon.process)
    check_equal(daemon.process.returncode, 0, "the daemon's exit status")


POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_ACTIONS = "/usr/share/polkit-1/actions"  # polkitd's compiled-in directories
POLKIT_RULES = "/etc/polkit-1/rules.d"
POLKIT_BUS_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"

# A client as another user: prints, per call, "ok" or the error's name and message.
CLIENT = """
import dbus, sys
bus = dbus.bus.BusConnection(sys.argv[1])
driver = bus.get_object("org.virtmigrate", "/org/virtmigrate/Driver", introspect=False)
migration = bus.get_object("org.virtmigrate", sys.argv[3], introspect=False)
# Longer than the daemon waits for polkit (20 s): the daemon's answer comes first.
calls = {
    "GetTunables": lambda: driver.GetTunables(sys.argv[2], timeout=60,
                                              dbus_interface="org.virtmigrate.Driver1"),
    "ListTunables": lambda: driver.ListTunables(sys.argv[2], timeout=60,
                                                dbus_interface="org.virtmigrate.Driver1"),
    "Cancel": lambda: migration.Cancel(dbus_interface="org.virtmigrate.Migration1",
                                       timeout=60),
}
for name in sys.argv[4:]:
    try:
        calls[name]()
        print("ok")
    except dbus.exceptions.DBusException as e:
        print(e.get_dbus_name(), e.get_dbus_message())
"""


def start_client(name, address, qmp, path, calls):
    """Starts CLIENT as user @name (uid, gid, no supplementary groups)."""
    user = pwd.getpwnam(name)

    def demote():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    p = subprocess.Popen(["/usr/bin/python3", "-c", CLIENT, address, "qmp:" + qmp, path]
                         + calls, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=demote if name != "root" else None, cwd="/")
    processes.append(p)
    return p


def client_lines(p, name, calls):
    """Waits for a client of start_client(); returns its lines."""
    out, err = p.communicate(timeout=TIMEOUT + 30)
    check(p.returncode == 0, "the client as %s failed: %s" % (name, err))
    lines = out.splitlines()
    check_equal(len(lines), len(calls), "%s's answers (%r)" % (name, lines))
    return lines


def as_user(name, address, qmp, path, calls):
    """Runs CLIENT as user @name; returns its lines."""
    return client_lines(start_client(name, address, qmp, path, calls), name, calls)


def test_polkit():
    """The real polkitd decides: a user its rules allow may, another may not, root may."""
    if os.geteuid() != 0:
        raise vmig_check.Skip("needs root (polkitd, its rules directory, other uids)")
    # Its actions and a rules file go where polkitd reads them (compiled-in
    # directories), and out again: the rules grant the actions to user
    # nobody, checked against user daemon (no rule) and root.
    for path in (POLKITD, POLKIT_BUS_POLICY):
        if not os.path.exists(path):
            raise vmig_check.Skip("%s missing (Debian package polkitd)" % path)
    installed = []  # files this test put outside the tree, removed in the end
    try:
        action_file = os.path.join(POLKIT_ACTIONS, "org.virtmigrate.policy")
        if not os.path.exists(action_file):
            shutil.copy(os.path.join(DATADIR, "org.virtmigrate.policy"), action_file)
            installed.append(action_file)
        rules_file = os.path.join(POLKIT_RULES, "10-virt-migrate-test-%d.rules" % os.getpid())
        with open(rules_file, "w") as f:
            f.write('polkit.addRule(function(action, subject) {\n'
                    '    if ((action.id == "org.virtmigrate.read" ||\n'
                    '         action.id == "org.virtmigrate.manage") && subject.user == "nobody")\n'
                    '        return polkit.Result.YES;\n'
                    '});\n')
        installed.append(rules_file)
        os.chmod(rules_file, 0o644)
        polkit_checks()
    finally:
        for path in installed:
            os.unlink(path)


def polkit_checks():
    bus_dir = os.path.join(tmp, "polkit-bus")
    os.mkdir(bus_dir)
    os.chmod(tmp, 0o755)
    os.chmod(bus_dir, 0o755)
    config = system_bus_config(bus_dir)
    with open(config) as f:
        text = f.read()
    # polkitd's own bus policy beside ours: it owns its name as user polkitd.
    text = text.replace("</busconfig>", "  <include>%s</include>\n</busconfig>"
                        % POLKIT_BUS_POLICY)
    with open(config, "w") as f:
        f.write(text)
    address = start_bus(config)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
    # polkitd starts as root and drops to user polkitd itself.
    polkitd = start([POLKITD, "--no-debug"], env=env, log=os.path.join(tmp, "polkitd.log"))
    bus = dbus.bus.BusConnection(address)
    wait_for(lambda: bus.name_has_owner("org.freedesktop.PolicyKit1"), "polkitd on the bus")
    bus.close()
    daemon = Daemon("polkit-host", "system", address)
    qmp = start_qemu("polkit")
    ids = []
    mains = []  # the source ends of the main channels: open while the migrations wait
    for n in range(2):
        main_a, main_b = socket.socketpair()
        ids.append(daemon.control.execute(
            "prepare-incoming", {"domain": "qmp:" + start_qemu("polkit%d" % n, incoming=True)},
            fds=[main_b.fileno()])["migration"])
        mains.append(main_a)
        main_b.close()
    first, second = (MIGRATION_PREFIX + i for i in ids)

    def state(path):
        return str(daemon.obj(path).Get(MIGRATION_IFACE, "State", dbus_interface=PROPS_IFACE))

    # User daemon: no rule for it, and polkit's default asks an administrator,
    # which no agent here can be: refused, the error naming the action.
    lines = as_user("daemon", address, qmp, first, ["GetTunables", "ListTunables", "Cancel"])
    for line, action in zip(lines, ("org.virtmigrate.read", "org.virtmigrate.read",
                                    "org.virtmigrate.manage")):
        check(line.startswith("org.freedesktop.DBus.Error.AccessDenied ") and
              "'%s'" % action in line, "daemon's refusal: " + line)
    check(state(first) != "cancelled", "daemon's Cancel took effect")

    # User nobody: the rules file grants it both actions.
    check_equal(as_user("nobody", address, qmp, first, ["GetTunables", "ListTunables", "Cancel"]),
                ["ok"] * 3, "nobody's calls")
    check_equal(state(first), "cancelled", "State after nobody's Cancel")

    # Root never asks polkit.
    check_equal(as_user("root", address, qmp, second, ["GetTunables", "Cancel"]), ["ok"] * 2,
                "root's calls")
    check_equal(state(second), "cancelled", "State after root's Cancel")

    # polkitd stopped (SIGSTOP, as a wedged polkitd): nobody's call waits,
    # the daemon does not, and the caller hears why after the daemon's 20 s.
    os.kill(polkitd.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        client = start_client("nobody", address, qmp, first, ["Cancel"])
        # The daemon answers others meanwhile.
        for _ in range(3):
            t = time.monotonic()
            daemon.driver().ListMigrations(timeout=5)
            check(time.monotonic() - t < 2, "ListMigrations took %.1f s while polkitd is "
                  "stopped" % (time.monotonic() - t))
            time.sleep(0.5)
        line = client_lines(client, "nobody", ["Cancel"])[0]
        waited = time.monotonic() - began
        check(line.startswith("org.virtmigrate.Error.Authorization ") and
              "'org.virtmigrate.manage'" in line and "polkit" in line,
              "nobody's call to a stopped polkitd: " + line)
        check(15 < waited < 45, "the answer came after %.1f s" % waited)
    finally:
        os.kill(polkitd.pid, signal.SIGCONT)
    for main in mains:
        main.close()
    stop(daemon.process)
    check_equal(daemon.process.returncode, 0, "the daemon's exit status")
    stop(polkitd)


def test_second_daemon_and_no_bus():
    """A second daemon on a bus whose name is taken, or with no bus, still serves."""
    env = dict(os.environ)
    env["VIRT_MIGRATE_INTERFACES_DIR"] = DATADIR
    for name, bus, extra_env in (("second", "session", {}),
                                 ("no-bus", "system",
                                  {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + tmp + "/none"})):
        d = os.path.join(tmp, name)
        log = os.path.join(tmp, name + ".log")
        env.update(extra_env)
        p = start([DAEMON, "--runtime-dir", d, "--bus", bus], env=env, log=log)
        sock = os.path.join(d, "virt-migrated.sock")
        wait_for(lambda: os.path.exists(sock), "the %s daemon's socket" % name)
        Control(sock).execute("query-version")
        stop(p)
        with open(log) as f:
            text = f.read()
        check("no D-Bus service" in text, "%s: no warning in %r" % (name, text))
        if name == "second":
            check("already owned" in text, "the warning names the cause: " + text)


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_bus_goes_away():
    """The bus dies under a daemon: it says so, does not spin, and keeps serving."""
    bus_dir = os.path.join(tmp, "dying-bus")
    os.mkdir(bus_dir)
    argv = ["dbus-daemon", "--session", "--nofork", "--print-address=1",
            "--address=unix:path=" + os.path.join(bus_dir, "bus")]
    bus = start(argv, stdout=subprocess.PIPE)
    address = bus.stdout.readline().decode().strip()
    daemon = Daemon("orphan-host", "session", address)
    daemon.bus.close()
    stop(bus, signal.SIGKILL)
    log = os.path.join(tmp, "orphan-host.log")
    wait_for(lambda: "lost the connection to the D-Bus bus" in open(log).read(),
             "the daemon to notice the bus is gone", timeout=10)
    before = cpu_seconds(daemon.process.pid)
    time.sleep(1)
    used = cpu_seconds(daemon.process.pid) - before
    check(used < 0.3, "the daemon used %.2f s of CPU in 1 s without its bus" % used)
    check_equal(daemon.control.execute("query-migrations"), [], "query-migrations")
    stop(daemon.process)
    check_equal(daemon.process.returncode, 0, "the daemon's exit status")


def example_app(via):
    src_qmp = start_qemu("src-example-" + via)
    dst_qmp = start_qemu("dst-example-" + via, incoming=True)
    out = subprocess.run([EXAMPLE, "--source-socket", src.socket, "--dest-socket", dst.socket,
                          "--source-domain", "qmp:" + src_qmp,
                          "--dest-domain", "qmp:" + dst_qmp, "--channels", "4",
                          "--via", via,
                          "--source-bus", os.environ["DBUS_SESSION_BUS_ADDRESS"],
                          "--dest-bus", dst.bus_address],
                         capture_output=True, text=True, timeout=TIMEOUT * 2)
    check(out.returncode == 0, "example app (--via %s) failed: %s%s"
          % (via, out.stdout, out.stderr))
    check(re.search(r"source m\d+: completed", out.stdout), "example output: " + out.stdout)
    check("multifd" in out.stdout, "example output lacks the features: " + out.stdout)
    check_equal(out.stdout.count("(read from its D-Bus object's properties)"), 2,
                "summaries read over D-Bus")


def test_example_app_control():
    """examples/vmig-example-app answers the fd request over the control socket."""
    example_app("control")


def test_example_app_dbus():
    """examples/vmig-example-app answers the fd request over D-Bus."""
    example_app("dbus")


TESTS = [
    ("/dbus/tree", test_tree),
    ("/dbus/get-tunables", test_get_tunables),
    ("/dbus/version", test_version),
    ("/dbus/object-manager", test_object_manager),
    ("/dbus/migration/channels-over-dbus", test_migration_channels_over_dbus),
    ("/dbus/migration/refused", test_refused),
    ("/dbus/migration/refused-start", test_refused_start),
    ("/dbus/bad-calls", test_bad_calls),
    ("/dbus/policy-and-expiry", test_policy_and_expiry),
    ("/dbus/polkit", test_polkit),
    ("/dbus/no-service", test_second_daemon_and_no_bus),
    ("/dbus/bus-goes-away", test_bus_goes_away),
    ("/dbus/example-app/control", test_example_app_control),
    ("/dbus/example-app/dbus", test_example_app_dbus),
]


def main():
    # VMIG_DBUS_TESTS=SUBSTRING runs only the tests whose path holds it.
    only = os.environ.get("VMIG_DBUS_TESTS")
    failed = vmig_check.run_tap([t for t in TESTS if not only or only in t[0]], setup)
    for p in reversed(processes):
        stop(p)
    if failed:
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".log"):
                with open(os.path.join(tmp, name), errors="replace") as f:
                    tail = f.read()[-3000:]
                print("# ---- %s\n# %s" % (name, tail.replace("\n", "\n# ")))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
