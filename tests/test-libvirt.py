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
# The one-command tests start a second pair of drivers with TLS (certificates
# from scripts/make-tls-certs.sh): B's keeps a standing listener (--listen,
# --tls-allowed-dn, --libvirt-uri), and nothing else prepares B.
# Needs root; skips otherwise.  Every process is stopped by pid at the end.
#
# Environment: G_TEST_SRCDIR (tests/), G_TEST_BUILDDIR (the build's tests/);
# VMIG_TEST_VERBOSE=1 prints the daemons' logs even when everything passed;
# VMIG_TEST_ONLY=TEXT runs the tests whose path has TEXT.

import os
import re
import socket
import ssl
import struct
import subprocess
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
MAKE_CERTS = os.path.join(SRCDIR, "..", "scripts", "make-tls-certs.sh")
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

    def start_daemon(self, host, name, extra=()):
        run = os.path.join(self.work, name + "-run")
        log = os.path.join(self.work, name + "-daemon.log")
        socket_path = os.path.join(run, "virt-migrated.sock")
        host.spawn([DAEMON, "--runtime-dir", run, "--bus", "none", "--verbose",
                    "--migration-dir", self.migrate_dir, "--channel-timeout", "30"] +
                   list(extra), log=log)
        wait_for(lambda: socket_accepts(socket_path), "the %s daemon" % name, 30)
        return Control(socket_path, timeout=TIMEOUT)

    def standing(self):
        """A second pair of drivers with TLS: B's keeps a standing listener
        (--listen, --tls-allowed-dn, --libvirt-uri: nothing else prepares B),
        A's has the source's certificate.  Started once; returns the listener's
        address (HOST:PORT)."""
        if getattr(self, "listen", None):
            return self.listen
        self.pki = os.path.join(self.work, "pki")
        subprocess.run(["bash", MAKE_CERTS, "--org", "Example", self.pki,
                        "src.example=127.0.0.1", "dst.example=127.0.0.1"],
                       check=True, capture_output=True, timeout=120)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.listen = "127.0.0.1:%d" % port
        self.std_src = self.start_daemon(
            self.a, "std-src", ["--tls-x509-dir", os.path.join(self.pki, "src.example")])
        self.std_dst = self.start_daemon(
            self.b, "std-dst", ["--tls-x509-dir", os.path.join(self.pki, "dst.example"),
                                "--tls-allowed-dn", "CN=src.example,*",
                                "--listen", self.listen, "--libvirt-uri", self.b.uri])
        return self.listen

    def daemon_log(self, name):
        with open(os.path.join(self.work, name + "-daemon.log"), errors="replace") as f:
            return f.read()

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


def test_one_command():
    """virsh's one command: B's driver keeps a standing listener and nothing
    prepares B; the source brings the domain's migratable XML."""
    listen = world.standing()
    name = world.domain("std")
    src_socket = os.path.join(world.work, "std-src-run", "virt-migrated.sock")
    out = subprocess.run([CLI, "--daemon-socket", src_socket, "-c", world.a.uri, "migrate",
                          name, world.b.uri, "--peer", listen, "--channels", "2",
                          "--tunable", "max-bandwidth=1G", "--verbose"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "migrate failed: %s%s" % (out.stdout, out.stderr))
    check("completed" in out.stdout.lower(), "migrate output: " + out.stdout)
    world.check_arrived(name)
    # The destination driver's own migration, started by its listener.
    rows = [m for m in world.std_dst.execute("query-migrations", {})
            if m.get("role") == "destination"]
    check(len(rows) >= 1, "no destination migration on B: %r" % rows)
    record = world.std_dst.execute("query-migration", {"migration": rows[-1]["migration"]})
    check_equal(record["state"], "completed", "the destination's migration")
    check(record["domain"].endswith("#" + name), "the destination's domain: %r" %
          record["domain"])
    check_equal((record.get("mode"), record.get("peer")), ("uri", "tcp:" + listen),
                "the destination's mode and peer (its standing listener)")
    check_equal(record.get("switchover"), "libvirt", "the destination's switchover")
    # The source's record lists the DOMAIN frame it brought, and its XML
    # (features --xml) is valid against data/record.rng.
    src_rows = [m for m in world.std_src.execute("query-migrations", {})
                if m.get("role") == "source"]
    src_id = src_rows[-1]["migration"]
    src_record = world.std_src.execute("query-migration", {"migration": src_id})
    frames = src_record.get("transcript", {}).get("frames", [])
    check_equal([f["type"] for f in frames][:2], ["DOMAIN", "GREETING"],
                "the source's first frames")
    check_equal(frames[0]["items"].get("domain"), name, "the DOMAIN frame's domain")
    check(frames[0]["items"].get("domain-xml-bytes", 0) > 0, "the DOMAIN frame's XML size")
    xml = subprocess.run([CLI, "--daemon-socket", src_socket, "features", src_id, "--xml"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(xml.returncode == 0, "features --xml: " + xml.stderr)
    lint = subprocess.run(["xmllint", "--noout", "--relaxng",
                           os.path.join(SRCDIR, "..", "data", "record.rng"), "-"],
                          input=xml.stdout, capture_output=True, text=True, timeout=TIMEOUT)
    check(lint.returncode == 0, "the source's record XML: " + lint.stderr)


def standing_client(cert_dir):
    """A TLS client of the standing listener with @cert_dir's client
    certificate: the test's own bytes, for faults a real source driver never
    sends (it only sends XML its libvirt wrote)."""
    host, port = world.standing().rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(cert_dir, "ca-cert.pem"))
    ctx.load_cert_chain(os.path.join(cert_dir, "client-cert.pem"),
                        os.path.join(cert_dir, "client-key.pem"))
    raw = socket.create_connection((host, int(port)), timeout=30)
    read_hello(raw)
    return ctx.wrap_socket(raw)


def read_word(sock, what):
    """Returns: the 4 bytes @sock says next (a check fails, naming @what, at
    an end of file before them)."""
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        check(chunk, "the listener closed before %s: %r" % (what, data))
        data += chunk
    return data


def read_hello(sock):
    """Reads the destination's hello: it speaks first, before TLS
    (docs/protocol.md, section 1)."""
    check_equal(read_word(sock, "its hello"), b"VMGH", "the standing listener's hello")


def accepted(sock):
    """A TLS server that accepted its client says so first: "VMGA" (docs/tls.md)."""
    check_equal(read_word(sock, "accepting"), b"VMGA", "the TLS server's acceptance")


def frame(ftype, items):
    body = b"".join(struct.pack(">HHI", tag, 0, len(v)) + v for tag, v in items)
    return struct.pack(">IHHI", 0x564D4752, ftype, 0, len(body)) + body


def read_error(sock):
    """Returns: the MESSAGE of the ERROR frame @sock answers with."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    check(len(data) >= 12 and data[:4] == b"VMGR", "no frame came back: %r" % data[:64])
    ftype, length = struct.unpack(">HxxI", data[4:12])
    check_equal(ftype, 5, "the frame's type (ERROR)")
    body, pos, message = data[12:12 + length], 0, None
    while pos + 8 <= len(body):
        tag, _, n = struct.unpack(">HHI", body[pos:pos + 8])
        if tag == 11:
            message = body[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
    check(message is not None, "an ERROR frame without a MESSAGE")
    return message


DOMAIN_NAME_TAG, DOMAIN_XML_TAG, DOMAIN_FRAME = 18, 19, 10


def test_standing_refusals():
    """Refused before any guest byte, with the reason on both sides: an XML
    that does not parse, an emulator that does not exist, a peer whose DN is
    not allowed, a plaintext opener."""
    world.standing()
    src_dir = os.path.join(world.pki, "src.example")
    # A real domain's migratable XML, whose emulator is then one B lacks.
    real = world.domain("real")
    xml = world.a.virsh("dumpxml", "--migratable", real)
    world.a.virsh("destroy", real)
    xml = re.sub(r"<emulator>[^<]*</emulator>",
                 "<emulator>/nonexistent/qemu-system-x86_64</emulator>", xml)
    xml = re.sub(r"<name>[^<]*</name>", "<name>bad2</name>", xml, count=1)
    cases = [
        ("bad1", b"<domain type='kvm'><name>bad1</nam", "domain-xml"),
        ("bad2", xml.encode(), "/nonexistent/qemu-system-x86_64"),
    ]
    for name, xml, says in cases:
        with standing_client(src_dir) as sock:
            accepted(sock)
            sock.sendall(b"VMGD" + frame(DOMAIN_FRAME, [(DOMAIN_NAME_TAG, name.encode()),
                                                        (DOMAIN_XML_TAG, xml)]))
            message = read_error(sock)
        check(name in message and says in message, "the source hears: %r" % message)
        wait_for(lambda: says in world.daemon_log("std-dst") and
                 "domain '%s'" % name in world.daemon_log("std-dst"),
                 "the destination's log naming the reason", 30)
        check(name not in world.b.domains(), "%s came to B" % name)
    # A certificate the CA signed, but not in --tls-allowed-dn.
    try:
        with standing_client(os.path.join(world.pki, "dst.example")) as sock:
            sock.sendall(b"VMGD")
            check(sock.recv(4) != b"VMGA", "a peer not allowed was accepted")
    except (ssl.SSLError, ConnectionError):
        pass
    wait_for(lambda: "CN=dst.example,O=Example is not allowed" in world.daemon_log("std-dst"),
             "the refusal of a DN not allowed in the log", 30)
    # The same through a real source driver whose certificate is not allowed:
    # its CLI says why, the guest stays on A.
    bad = world.start_daemon(world.a, "std-bad",
                             ["--tls-x509-dir", os.path.join(world.pki, "dst.example")])
    bad.close()
    name = world.domain("dn")
    out = subprocess.run([CLI, "--daemon-socket",
                          os.path.join(world.work, "std-bad-run", "virt-migrated.sock"),
                          "-c", world.a.uri, "migrate", name, world.b.uri, "--peer",
                          world.standing()],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode != 0, "a source not allowed migrated: " + out.stdout)
    check("refused this host's certificate" in out.stdout + out.stderr,
          "the source's reason: %s%s" % (out.stdout, out.stderr))
    check_equal(world.a.virsh("domstate", name).strip(), "running", "the source domain")
    check(name not in world.b.domains(), "%s came to B" % name)
    world.a.virsh("destroy", name)
    # A domain whose migratable XML does not fit a DOMAIN frame (64 KiB): the
    # source says so and tells the destination, the guest stays on A.
    name = world.domain("big")
    world.a.virsh("desc", name, "--live", "--new-desc", "x" * (70 << 10))
    out = subprocess.run([CLI, "--daemon-socket",
                          os.path.join(world.work, "std-src-run", "virt-migrated.sock"),
                          "-c", world.a.uri, "migrate", name, world.b.uri, "--peer",
                          world.standing()],
                         capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode != 0, "a domain too big for a DOMAIN frame migrated")
    check("does not fit a DOMAIN frame" in out.stdout + out.stderr,
          "the source's reason: %s%s" % (out.stdout, out.stderr))
    wait_for(lambda: "does not fit a DOMAIN frame" in world.daemon_log("std-dst"),
             "the destination's log naming the reason", 30)
    check_equal(world.a.virsh("domstate", name).strip(), "running", "the source domain")
    check(name not in world.b.domains(), "%s came to B" % name)
    world.a.virsh("destroy", name)
    # A plaintext opener: a plaintext ERROR frame.
    host, port = world.standing().rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        read_hello(sock)
        sock.sendall(b"VMGD")
        message = read_error(sock)
    check("requires TLS" in message, "the plaintext opener hears: %r" % message)


TESTS = [
    ("/libvirt/tunables-cli", test_tunables_cli),
    ("/libvirt/migrate/1-channel", test_one_channel),
    ("/libvirt/migrate/4-channels", test_four_channels),
    ("/libvirt/cli", test_cli),
    ("/libvirt/tunables-applied-then-cancel", test_tunables_applied_then_cancel),
    ("/libvirt/refused/feature-mismatch", test_mismatch),
    ("/libvirt/errors", test_errors),
    ("/libvirt/one-command", test_one_command),
    ("/libvirt/refused/standing", test_standing_refusals),
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
        for name in ("src-daemon.log", "dst-daemon.log", "std-src-daemon.log",
                     "std-dst-daemon.log"):
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
