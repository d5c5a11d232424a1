#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# libvirt-ratio: the cost of migrating a libvirt domain through the drivers.
#
#   /usr/bin/python3 bench/libvirt-ratio.py BUILD_DIR [--runs N] [--ram MIB]
#
# Three libvirt "hosts" on one machine (tests/libvirt_hosts.py, root only):
# A, the source; C, a destination that shares A's view of the files, where
# libvirt migrates directly (`virsh migrate --live --p2p DOM C --migrateuri
# unix:///PATH`, with `--parallel --parallel-connections 4` for 4 channels):
# the baseline; and B, a destination with its own view of the migration
# directory, reached through two virt-migrated drivers (prepare-incoming
# on B's, migrate on A's, as tests/test-libvirt.py does).  Each run makes a
# fresh domain on A (RAM MiB of memory, a random pattern of half of it
# planted at 16 MiB) and times, interleaved (the order alternates):
#
#   direct   the virsh migrate command, start to end
#   drivers  prepare-incoming + migrate, to the source's MIGRATION_DONE
#
# and prints the medians and the ratios drivers/direct, for 1 and for 4
# channels.  Both ways go through libvirt's own migration setup (its
# Begin/Prepare/Perform/Finish round trips, QEMU started on the
# destination), so the ratio shows what the handshake and the bridges add.
import os
import statistics
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
sys.dont_write_bytecode = True
import libvirt_hosts as lh  # noqa: E402
from vmig_control import Control  # noqa: E402


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print("usage: libvirt-ratio.py BUILD_DIR [--runs N] [--ram MIB]", file=sys.stderr)
        return 2
    build = os.path.abspath(args.pop(0))
    runs, ram = 3, 1024
    while args:
        opt = args.pop(0)
        if opt == "--runs":
            runs = int(args.pop(0))
        elif opt == "--ram":
            ram = int(args.pop(0))
        else:
            print("libvirt-ratio: unknown option %s" % opt, file=sys.stderr)
            return 2
    reason = lh.missing_requirements()
    if reason:
        print("libvirt-ratio: cannot run: %s" % reason, file=sys.stderr)
        return 1
    lh.exit_on_signals()
    lh.reap_stale()
    work = lh.make_workdir()
    migrate_dir = os.path.join(work, "migrate")
    os.mkdir(migrate_dir)
    uid, gid = lh.ensure_user()
    os.chown(migrate_dir, uid, gid)
    pattern = os.path.join(work, "pattern.bin")
    lh.make_pattern(pattern, (ram // 2) << 20)
    os.chmod(pattern, 0o644)

    a = lh.Host("a", work, migration_dir=migrate_dir, wait=False)
    b = lh.Host("b", work, migration_dir=migrate_dir, private_mounts=True, wait=False)
    c = lh.Host("c", work, wait=False)
    lh.wait_ready(a, b, c)
    daemon = os.path.join(build, "driver", "virt-migrated")
    controls = {}
    for host, name in ((a, "src"), (b, "dst")):
        run = os.path.join(work, name + "-run")
        host.spawn([daemon, "--runtime-dir", run, "--bus", "none", "--migration-dir",
                    migrate_dir], log=os.path.join(work, name + ".log"))
        sock = os.path.join(run, "virt-migrated.sock")
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        controls[name] = Control(sock, timeout=600)

    times = {}
    serial = [0]

    def fresh():
        serial[0] += 1
        name = "bench%d" % serial[0]
        a.create_domain(name, memory_mib=ram, pattern=pattern)
        return name

    def direct(channels):
        name = fresh()
        argv = ["migrate", "--live", "--p2p", name, c.uri, "--migrateuri",
                "unix://%s/direct-%s.sock" % (migrate_dir, name)]
        if channels:
            argv += ["--parallel", "--parallel-connections", str(channels)]
        start = time.monotonic()
        a.virsh(*argv)
        elapsed = time.monotonic() - start
        c.virsh("destroy", name)
        return elapsed

    def drivers(channels):
        name = fresh()
        listen = "unix:%s/drivers-%s.sock" % (work, name)
        xml = a.virsh("dumpxml", "--migratable", name)
        start = time.monotonic()
        dst_id = controls["dst"].execute("prepare-incoming", {
            "domain": "libvirt:%s#%s" % (b.uri, name), "listen": listen, "domain-xml": xml})
        src_id = controls["src"].execute("migrate", {
            "domain": "libvirt:%s#%s" % (a.uri, name), "dest": listen,
            "libvirt-dest": b.uri, "channels": channels})["migration"]
        done = controls["src"].wait_event("MIGRATION_DONE", src_id, 600)
        elapsed = time.monotonic() - start
        controls["dst"].wait_event("MIGRATION_DONE", dst_id["migration"], 600)
        if done["result"] != "completed":
            raise RuntimeError("through the drivers: %r" % done)
        b.virsh("destroy", name)
        return elapsed

    try:
        for i in range(runs):
            for channels in (0, 4):
                ways = [("direct", direct), ("drivers", drivers)]
                if i % 2:
                    ways.reverse()
                for way, func in ways:
                    t = func(channels)
                    times.setdefault((channels, way), []).append(t)
                    print("run %d, %d channels, %-7s %.3f s" % (i + 1, channels, way, t),
                          flush=True)
    finally:
        for host in (a, b, c):
            host.stop()
        lh.cleanup()

    print("\n%d MiB guest, %d MiB of random data, %d runs (medians):" % (ram, ram // 2, runs))
    for channels in (0, 4):
        d = statistics.median(times[(channels, "direct")])
        v = statistics.median(times[(channels, "drivers")])
        print("  %d channel%s: direct %.3f s, drivers %.3f s, ratio %.2f"
              % (channels or 1, "s" if channels else "", d, v, v / d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
