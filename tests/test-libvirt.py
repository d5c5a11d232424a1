#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: libvirt-managed domains migrate through two virt-migrated
# drivers, with the stock libvirtd (docs/libvirt.md).
#
# Two libvirt "hosts" on one machine (tests/libvirt_hosts.py): session-mode
# libvirtds run as a throwaway system user, the destination's in a mount
# namespace where the migration directory is private, so one unix:// path
# names a different socket on each host.  The source virt-migrated runs in
# the source's view, the destination's in the destination's (host.spawn);
# both as root, with --migration-dir set to that shared directory name.
# Domains: transient, TCG, 256 MiB, with a random pattern planted at 16 MiB
# (-device loader through <qemu:commandline>) and compared with pmemsave.
# Needs root; skips otherwise.  Every process is stopped by pid at the end.
#
# Environment: G_TEST_SRCDIR (tests/), G_TEST_BUILDDIR (the build's tests/);
# VMIG_TEST_VERBOSE=1 prints the daemons' logs even when everything passed;
# VMIG_TEST_ONLY=TEXT runs the tests whose path has TEXT.

import os
import sys
import traceback

SRCDIR = os.environ["G_TEST_SRCDIR"]
BUILDDIR = os.environ["G_TEST_BUILDDIR"]
sys.path.insert(0, SRCDIR)
sys.dont_write_bytecode = True
import libvirt_hosts as lh  # noqa: E402
import vmig_check  # noqa: E402
from vmig_check import Failure, check, check_equal  # noqa: E402
from vmig_control import Control, ControlError, socket_accepts  # noqa: E402

DAEMON = os.path.join(BUILDDIR, "..", "driver", "virt-migrated")
CLI = os.path.join(BUILDDIR, "..", "tools", "virt-migrate")
PATTERN_SIZE = 32 << 20
TIMEOUT = 180


def wait_for(predicate, what, timeout=TIMEOUT):
    return vmig_check.wait_for(predicate, what, timeout)


class World:
    """Two libvirt hosts, a driver on each, the pattern file."""

    def __init__(self):
        self.work = lh.make_workdir()
        self.migrate_dir = os.path.join(self.work, "migrate")
        os.mkdir(self.migrate_dir)
        uid, gid = lh.ensure_user()
        os.chown(self.migrate_dir, uid, gid)
        self.pattern = os.path.join(self.work, "pattern.bin")
        lh.make_pattern(self.pattern, PATTERN_SIZE)
        os.chmod(self.pattern, 0o644)
        with open(self.pattern, "rb") as f:
            self.pattern_bytes = f.read()
        self.a = lh.Host("a", self.work, migration_dir=self.migrate_dir, wait=False)
        self.b = lh.Host("b", self.work, migration_dir=self.migrate_dir, private_mounts=True,
                         wait=False)
        lh.wait_ready(self.a, self.b)
        self.src = self.start_daemon(self.a, "src")
        self.dst = self.start_daemon(self.b, "dst")
        self.serial = 0

    def start_daemon(self, host, name):
        run = os.path.join(self.work, name + "-run")
        log = os.path.join(self.work, name + "-daemon.log")
        socket_path = os.path.join(run, "virt-migrated.sock")
        host.spawn([DAEMON, "--runtime-dir", run, "--bus", "none", "--verbose",
                    "--migration-dir", self.migrate_dir, "--channel-timeout", "30"],
                   log=log)
        wait_for(lambda: socket_accepts(socket_path), "the %s daemon" % name, 30)
        return Control(socket_path, timeout=TIMEOUT)

    def domain(self, prefix):
        """A running domain on A with the pattern; returns its name."""
        self.serial += 1
        name = "%s%d" % (prefix, self.serial)
        self.a.create_domain(name, pattern=self.pattern)
        return name

    def listen_uri(self, name):
        return "unix:%s" % os.path.join(self.work, name + "-drivers.sock")

    def migrate(self, name, channels=0, tunables=(), src_extra=None, dst_extra=None):
        """prepare-incoming on B's driver, migrate on A's.  Returns: (src id, dst id)."""
        listen = self.listen_uri(name)
        xml = self.a.virsh("dumpxml", "--migratable", name)
        dst_args = {"domain": "libvirt:%s#%s" % (self.b.uri, name), "listen": listen,
                    "domain-xml": xml}
        dst_args.update(dst_extra or {})
        dst_id = self.dst.execute("prepare-incoming", dst_args)["migration"]
        src_args = {"domain": "libvirt:%s#%s" % (self.a.uri, name), "dest": listen,
                    "libvirt-dest": self.b.uri, "channels": channels,
                    "tunables": list(tunables)}
        src_args.update(src_extra or {})
        src_id = self.src.execute("migrate", src_args)["migration"]
        return src_id, dst_id

    def check_arrived(self, name):
        """The domain runs on B only, with the pattern in its RAM."""
        check(name in self.b.domains(), "%s does not run on B (%r)" % (name, self.b.domains()))
        check(name not in self.a.virsh("list", "--all", "--name").split(),
              "%s is still on A" % name)
        ram = self.b.pmemsave(name, lh.PATTERN_ADDR, PATTERN_SIZE)
        check(ram == self.pattern_bytes, "the pattern differs on B")

    def stop(self):
        for host in (self.a, self.b):
            try:
                host.stop()
            except Exception:
                traceback.print_exc()


world = None


def done(control, mid, result):
    data = control.wait_event("MIGRATION_DONE", mid, TIMEOUT)
    check_equal(data["result"], result,
                "result of %s (%s)" % (mid, data.get("error", "no error")))
    return data


# ---- tests ------------------------------------------------------------------------

def test_tunables_cli():
    """virt-migrate tunables -c URI DOMAIN reads the running domain through libvirt."""
    import json
    import subprocess

    name = world.domain("tun")
    out = subprocess.run([CLI, "--daemon-socket", os.path.join(world.work, "src-run",
                                                         "virt-migrated.sock"),
                          "tunables", "-c", world.a.uri, name, "--json"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "tunables -c failed: " + out.stderr)
    catalog = json.loads(out.stdout)
    kinds = [t["kind"] for t in catalog["tunables"]]
    check_equal((kinds.count("parameter"), kinds.count("capability")), (26, 19),
                "stable parameters and capabilities")
    check(catalog["hypervisor"].startswith("QEMU 7."), catalog["hypervisor"])
    world.a.virsh("destroy", name)


def test_one_channel():
    """1 channel: libvirtd connects itself; the guest arrives with its memory."""
    name = world.domain("one")
    src_id, dst_id = world.migrate(name, tunables=["max-bandwidth=1G"])
    negotiated = world.src.wait_event("NEGOTIATED", src_id, TIMEOUT)
    check_equal(negotiated["channels"], 0, "channels")
    done(world.src, src_id, "completed")
    done(world.dst, dst_id, "completed")
    world.check_arrived(name)
    record = world.src.execute("query-migration", {"migration": src_id})
    check(record["hypervisor"].startswith("QEMU 7."), "source hypervisor")
    check(record["peer-hypervisor"].startswith("QEMU 7."), "destination hypervisor (probed)")
    # Protocol version 2 between the drivers, libvirt's own switchover for the guest.
    dst_record = world.dst.execute("query-migration", {"migration": dst_id})
    for side, rec in (("source", record), ("destination", dst_record)):
        check_equal(rec["version"], 2, side + " protocol version")
        check_equal(rec.get("switchover"), "libvirt", side + " switchover")


def test_four_channels():
    """4 channels asked for and supplied: libvirt's parallel migration, bridged."""
    name = world.domain("four")
    src_id, dst_id = world.migrate(name, channels=4, tunables=["max-bandwidth=1G"])
    negotiated = world.src.wait_event("NEGOTIATED", src_id, TIMEOUT)
    check("multifd" in negotiated["features"], "multifd not negotiated: %r" % negotiated)
    check_equal(negotiated["channels"], 4, "channels")
    done(world.src, src_id, "completed")
    done(world.dst, dst_id, "completed")
    world.check_arrived(name)


def test_cli():
    """virsh's habits: incoming -c on the destination, migrate -c ... --peer on the source."""
    import subprocess

    name = world.domain("cli")
    listen = world.listen_uri(name)
    xml_file = os.path.join(world.work, name + ".xml")
    with open(xml_file, "w") as f:
        f.write(world.a.virsh("dumpxml", "--migratable", name))
    src_socket = os.path.join(world.work, "src-run", "virt-migrated.sock")
    dst_socket = os.path.join(world.work, "dst-run", "virt-migrated.sock")
    out = subprocess.run([CLI, "--daemon-socket", dst_socket, "incoming", "-c", world.b.uri, name,
                          listen, "--xml", xml_file],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "incoming -c failed: " + out.stderr)
    # -c global, before the command, as virsh takes it
    out = subprocess.run([CLI, "--daemon-socket", src_socket, "-c", world.a.uri, "migrate", name,
                          world.b.uri, "--peer", listen, "--live", "--channels", "2",
                          "--tunable", "max-bandwidth=1G", "--verbose"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "migrate -c failed: %s%s" % (out.stdout, out.stderr))
    check("multifd" in out.stdout and "completed" in out.stdout.lower(),
          "migrate -c output: " + out.stdout)
    world.check_arrived(name)
    # The domain as the user wrote it, not the daemon's libvirt:URI#NAME.
    ids = [w for w in out.stdout.split() if w.startswith("m") and w[1:].isdigit()]
    check(len(ids) > 0, "migrate -c named no migration: " + out.stdout)
    out = subprocess.run([CLI, "--daemon-socket", src_socket, "list", "--all"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "list failed: " + out.stderr)
    rows = [line.split() for line in out.stdout.splitlines()]
    check([ids[-1], "source", "completed", name] in rows, "list --all: " + out.stdout)
    check("libvirt:" not in out.stdout, "list --all: " + out.stdout)
    out = subprocess.run([CLI, "--daemon-socket", src_socket, "features", ids[-1]],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "features failed: " + out.stderr)
    check("Domain:           %s\n" % name in out.stdout, "features: " + out.stdout)


def test_tunables_applied_then_cancel():
    """Mapped tunables (bandwidth, xbzrle) and a passthrough one reach the source QEMU;
    cancel keeps it running."""
    name = world.domain("slow")
    src_id, dst_id = world.migrate(name, tunables=["max-bandwidth=2M", "downtime-limit=432",
                                                   "xbzrle=true", "xbzrle-cache-size=32M"])

    def params():
        try:
            return world.a.qmp(name, '{"execute": "query-migrate-parameters"}')
        except lh.HostError:
            return None

    seen = wait_for(lambda: (lambda p: p if p and p.get("max-bandwidth") == 2 << 20 and
                             p.get("downtime-limit") == 432 else None)(params()),
                    "max-bandwidth (libvirt's bandwidth) and downtime-limit (passthrough) "
                    "on the source QEMU", 60)
    check_equal(seen["downtime-limit"], 432, "downtime-limit")
    # xbzrle goes through libvirt's compression: method and cache size.
    check_equal(seen["xbzrle-cache-size"], 32 << 20, "xbzrle-cache-size")
    caps = {c["capability"]: c["state"]
            for c in world.a.qmp(name, '{"execute": "query-migrate-capabilities"}')}
    check(caps["xbzrle"], "xbzrle is off on the source QEMU")
    # libvirt's job statistics come as MIGRATION_PROGRESS, as QEMU's do.
    progress = {"transferred": 0}
    while progress["transferred"] == 0:
        progress = world.src.wait_event("MIGRATION_PROGRESS", src_id, 60)
        check_equal(progress["status"], "active", "progress status")
        check(progress["total"] >= 256 << 20, "progress figures: %r" % progress)
    world.src.execute("cancel", {"migration": src_id})
    data = done(world.src, src_id, "cancelled")
    check("cancel" in data.get("error", ""), "the reason: %r" % data)
    wait_for(lambda: name in world.a.domains(), "the domain running on A", 30)
    state = world.a.virsh("domstate", name).strip()
    check_equal(state, "running", "the source domain after cancel")
    world.dst.wait_event("MIGRATION_DONE", dst_id, TIMEOUT)
    world.a.virsh("destroy", name)


def test_mismatch():
    """A feature mismatch is refused before libvirt is asked to migrate."""
    name = world.domain("mis")
    src_id, dst_id = world.migrate(name, channels=2,
                                   src_extra={"require-features": ["multifd"]},
                                   dst_extra={"no-features": ["multifd"]})
    data = done(world.src, src_id, "failed")
    check("multifd" in data["error"], "the reason: %r" % data)
    done(world.dst, dst_id, "failed")
    check_equal(world.a.virsh("domstate", name).strip(), "running", "the source domain")
    check(name not in world.b.domains(), "the destination libvirt was asked")
    info = world.a.virsh_run("domjobinfo", name).stdout
    check("None" in info or "none" in info, "a libvirt job ran: " + info)
    world.a.virsh("destroy", name)


def test_errors():
    """Unknown domain, dead libvirt, a destination libvirt that refuses: clear errors."""
    listen = world.listen_uri("err")
    try:
        world.src.execute("migrate", {"domain": "libvirt:%s#nosuchvm" % world.a.uri,
                                      "dest": listen, "libvirt-dest": world.b.uri})
        raise Failure("migrating an unknown domain succeeded")
    except ControlError as e:
        check("has no domain 'nosuchvm'" in e.desc, e.desc)
    dead = "qemu+unix:///session?socket=%s/nothing/libvirt-sock" % world.work
    try:
        world.src.execute("query-tunables", {"domain": "libvirt:%s#vm" % dead})
        raise Failure("a dead libvirt answered")
    except ControlError as e:
        check("cannot connect to libvirt" in e.desc and "nothing/libvirt-sock" in e.desc,
              e.desc)
    # The destination libvirt refuses: a URI where no libvirt listens.  libvirt's
    # reason reaches the source's management app; the guest keeps running on A.
    name = world.domain("ref")
    src_id, dst_id = world.migrate(name, src_extra={"libvirt-dest": dead})
    data = done(world.src, src_id, "failed")
    check("libvirt could not migrate" in data["error"] and "nothing/libvirt-sock" in
          data["error"], "the reason: %r" % data)
    # The destination's management app hears the same reason (an ERROR frame
    # on the main channel: no stream byte had moved).
    dst_data = done(world.dst, dst_id, "failed")
    check_equal(dst_data.get("error"), data["error"], "the destination's reason")
    check_equal(world.a.virsh("domstate", name).strip(), "running", "the source domain")
    world.a.virsh("destroy", name)


TESTS = [
    ("/libvirt/tunables-cli", test_tunables_cli),
    ("/libvirt/migrate/1-channel", test_one_channel),
    ("/libvirt/migrate/4-channels", test_four_channels),
    ("/libvirt/cli", test_cli),
    ("/libvirt/tunables-applied-then-cancel", test_tunables_applied_then_cancel),
    ("/libvirt/refused/feature-mismatch", test_mismatch),
    ("/libvirt/errors", test_errors),
]


def main():
    global world
    reason = lh.missing_requirements()
    if reason:
        print("1..0 # SKIP " + reason)
        return 0
    lh.exit_on_signals()
    lh.reap_stale()
    only = os.environ.get("VMIG_TEST_ONLY")
    tests = [t for t in TESTS if not only or only in t[0]]

    def setup():
        global world
        world = World()

    failed = vmig_check.run_tap(tests, setup)
    if (failed or os.environ.get("VMIG_TEST_VERBOSE")) and world:
        for name in ("src-daemon.log", "dst-daemon.log"):
            path = os.path.join(world.work, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read()[-4000:] if failed else f.read()
                print("# ---- %s\n# %s" % (name, tail.replace("\n", "\n# ")))
    if world:
        world.stop()
    lh.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
