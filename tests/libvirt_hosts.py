# SPDX-License-Identifier: LGPL-2.1-or-later
# libvirt_hosts: several libvirt "hosts" on one machine, for the integration
# tests of the libvirt backend.  Python 3 stdlib only (for
# /usr/bin/python3); libvirt is driven with the virsh command line, never
# with libvirt-python.  Needs root.
#
# The setup
# ---------
# Each Host is a session-mode `libvirtd --timeout 0` run in the foreground
# (a child of the test, its pid kept) as a throwaway non-root system user
# (USER, made by ensure_user() with `useradd -r -M`), through
#     setpriv --reuid U --regid G --init-groups --pdeathsig TERM \
#         env -i HOME=.. XDG_CONFIG_HOME=.. XDG_RUNTIME_DIR=.. XDG_CACHE_HOME=..
#                XDG_DATA_HOME=.. XDG_STATE_HOME=.. PATH=.. LC_ALL=C libvirtd --timeout 0
# every one of those directories its own, under <workdir>/<name>/, with
# `host_uuid = "<uuid4>"` in <XDG_CONFIG_HOME>/libvirt/libvirtd.conf and
# `stdio_handler = "file"` in <XDG_CONFIG_HOME>/libvirt/qemu.conf.  Clients
# (root's virsh here) use host.uri =
#     qemu+unix:///session?socket=<XDG_RUNTIME_DIR>/libvirt/libvirt-sock
# A host made with private_mounts=True (the destination) runs libvirtd, and
# every process started by host.spawn() / host.run_in_namespace(), inside
#     unshare -m --propagation private -- /bin/sh -c \
#         'mount --bind -- "$1" "$2" && shift 2 && exec "$@"' sh PRIVATE MIGDIR ARGV...
# so one path under the migration directory (`unix://<migration_dir>/x.sock`)
# names a different socket on each "host".  Each spawn gets its own
# namespace, which is equivalent: the bind source is the same directory.
# unshare (no --fork), sh, setpriv and env all exec, so a Popen's pid is the
# program's own and can be signalled directly.  The bind source
# (host.private_dir) is an ordinary directory: root in the initial namespace
# reaches the destination's sockets through it (host.real_path(path)).
#
# API
# ---
#   missing_requirements() -> reason or None   (TAP "1..0 # SKIP reason")
#   ensure_user() -> (uid, gid)    reap_stale()    exit_on_signals()
#   make_workdir() -> dir (o+x, removed at exit)   make_pattern(path, size)
#   allow_user(path)               cleanup() (atexit: stops hosts, removes dirs)
#   Host(name, workdir, migration_dir=None, private_mounts=False,
#        host_uuid=None, wait=True)   .uri .pid .dir .home .scratch
#        .private_dir .times {"socket": s, "ready": s} .last_create_seconds
#     .wait_ready()  /  wait_ready(h1, h2, ...) for hosts made with wait=False
#     .virsh(*args) -> stdout (HostError with virsh's message)
#     .virsh_run(*args) -> CompletedProcess    .domains() -> running names
#     .create_domain(name, memory_mib=256, extra_devices_xml="", pattern=None,
#                    pattern_addr=PATTERN_ADDR, qemu_args=()) -> XML used
#     .qmp(domain, cmd) -> the "return" value (QMPError)
#     .pmemsave(domain, addr, size) -> bytes
#     .spawn(argv, env=None, log=None, as_user=False) -> Popen (stopped by stop())
#     .run_in_namespace(argv, as_user=False, **run_kwargs) -> CompletedProcess
#     .real_path(path)  .user_env()  .own_pids()  .stop() -> notes
#
# Facts measured here (Debian 12, libvirt 9.0.0, QEMU 7.2.22 TCG, 2 cores)
# ------------------------------------------------------------------------
# - Root's tools connect to the non-root user's session libvirtd: its socket
#   is srwx------ owned by the user, root passes that check, and a session
#   libvirtd checks no peer uid (no auth on its unix socket).  So virsh (and
#   later a root virt-migrated through libvirt's API) runs as root; only
#   libvirtd runs as the user.  The source libvirtd, for --p2p, connects to
#   the destination's socket as the user: same user, so that works too.
# - The socket accepts ~0.1 s after exec, but QEMU capabilities are probed
#   on the FIRST CONNECTION, not at start (a host left idle 10 s still took
#   3.6 s to answer its first `virsh version`), and that connection blocks
#   until the probe ends: ~4 s idle, more when loaded.  The cache is per
#   XDG_CACHE_HOME, so every fresh host probes; wait_ready(a, b) keeps both
#   first connections open at once so the probes overlap (both ready in ~4 s
#   on 2 cores, instead of ~8.5 s one after the other).  Timeout 60 s.
# - Same host_uuid on both: "internal error: Attempt to migrate guest to the
#   same host <uuid>" -- hence a fresh uuid4 per Host.
# - stdio_handler = "file": QEMU's output goes to
#   <XDG_CACHE_HOME>/libvirt/qemu/log/DOMAIN.log and no virtlogd is spawned;
#   a host is then exactly one libvirtd plus its QEMUs.
# - libvirtd.log always has harmless errors: no dnsmasq, no system/session
#   bus, no DMI, /dev/kvm permission denied (TCG is used).
# - SIGTERM stops libvirtd in 0.02-1.6 s and leaves its QEMUs running (as
#   libvirt is designed to); `virsh destroy` takes ~1.5 s a domain.  So stop()
#   SIGTERMs libvirtd by pid, then SIGKILLs by pid every process of the user
#   whose environment has this host's HOME (libvirt gives QEMU the daemon's
#   HOME): that is how its QEMUs are found.  They are orphans reaped by pid
#   1, which took ~1.6 s here: stop() waits for the zombies to go too, so
#   `ps -u vmig-libvirt` is empty afterwards.
# - setpriv's --pdeathsig survives the uid change: if the test is SIGKILLed
#   its libvirtds get SIGTERM; their QEMUs survive, and the next run's
#   reap_stale() kills them (processes whose host directory's "owner" file
#   names a dead process) and removes dead runs' workdirs.
# - Everything the user runs must reach its files: the workdir (mkdtemp makes
#   it 0700) needs o+x on it and every parent; a pattern file for `-device
#   loader` must be readable by the user; pmemsave writes as the user
#   (host.scratch); a unix socket that the source libvirtd or QEMU connects
#   to must be writable by the user (connect(2) gives EACCES on a root-owned
#   0755 socket): allow_user(path).  The destination's private_dir is the
#   user's so that its QEMU can create the listening socket there.
# - libvirt binds QEMU's monitor at <XDG_CONFIG_HOME>/libvirt/qemu/lib/
#   domain-<id>-<first 20 chars of name>/monitor.sock: a deep workdir
#   overflows sun_path (108 bytes); Host refuses such a workdir up front.
# - A transient domain of type 'qemu', 256 MiB, 1 vCPU, machine 'pc', no disk,
#   network, <graphics> or <video>, with <controller type='usb' model='none'/>
#   and <memballoon model='none'/>, starts in 0.3-0.45 s (libvirt still adds
#   PS/2 input and <audio type='none'/>; SeaBIOS then idles without a boot
#   device, leaving RAM at 16 MiB alone).
# - <qemu:commandline> (xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0')
#   works in session mode: `-device loader,file=PATTERN,addr=0x1000000`
#   puts the file in guest RAM (pmemsave reads it back identical), libvirt
#   logs "Domain id=N is tainted: custom-argv", and the domain migrates
#   (the destination QEMU gets the same argument, so PATTERN must exist
#   and be readable on the destination "host" too: it is, same machine).
#   Monitor passthrough taints it "custom-monitor".
# - `virsh qemu-monitor-command` exits 0 on a QMP error reply: qmp() looks
#   for "error" in the reply and raises QMPError with its desc.
# - Migration over UNIX sockets (live, peer-to-peer); both forms work:
#     virsh -c SRC migrate --live --p2p DOM DST_URI --migrateuri unix:///PATH
#     virsh -c SRC migrate --live --p2p DOM DST_URI unix:///PATH
#   plus `--parallel --parallel-connections N` for multifd.  With one channel
#   the source libvirtd itself connects to PATH (1 connection, which starts
#   "QEVM"); with --parallel the source QEMU connects: 1 main ("QEVM") + N
#   multifd (11 22 33 44) connections.  The destination QEMU listens on PATH
#   as its own mount view has it.  Idle 256 MiB guest: ~2 s for either.

import atexit
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

USER = os.environ.get("VMIG_LIBVIRT_USER", "vmig-libvirt")
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
QEMU = shutil.which(os.environ.get("VMIG_TEST_QEMU", "qemu-system-x86_64"),
                   path=PATH) or os.environ.get("VMIG_TEST_QEMU", "qemu-system-x86_64")
START_TIMEOUT = 60      # libvirtd start, including the first QEMU probe
VIRSH_TIMEOUT = 120     # one virsh command
STOP_TIMEOUT = 30       # SIGTERM before SIGKILL
PATTERN_ADDR = 0x1000000
WORKDIR_PREFIX = "vmig-libvirt-"

REQUIRED_TOOLS = ("libvirtd", "virsh", "setpriv", "unshare", "useradd", "mount")

_hosts = []             # every Host started, stopped at exit
_workdirs = []          # make_workdir() directories, removed at exit


class HostError(Exception):
    pass


class QMPError(HostError):
    pass


def which(tool):
    return shutil.which(tool, path=PATH + ":" + os.environ.get("PATH", ""))


def missing_requirements():
    """A reason why hosts cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (creates a user, starts libvirtd as it, unshare -m)"
    for tool in REQUIRED_TOOLS:
        if not which(tool):
            return "%s not found" % tool
    if not os.path.isabs(QEMU) or not os.access(QEMU, os.X_OK):
        return "%s not found" % QEMU
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return "unshare -m fails: %s" % r.stderr.decode(errors="replace").strip()
    return None


def ensure_user(name=USER):
    """Create the throwaway system user if needed; return (uid, gid)."""
    for _ in range(20):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
        # Concurrent suites may race here: useradd fails with 9 (name in use)
        # or 10 (passwd locked); look again.
        subprocess.run(["useradd", "-r", "-M", "-d", "/nonexistent",
                        "-s", "/usr/sbin/nologin", "-c", "virt-migrate libvirt tests",
                        name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.1)
    raise HostError("cannot create user %s" % name)


def _proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _proc_uid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _proc_env(pid, key):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for item in f.read().split(b"\0"):
                k, _, v = item.partition(b"=")
                if k == key.encode():
                    return v.decode(errors="replace")
    except OSError:
        pass
    return None


def user_pids(uid):
    """Pids of the processes whose real uid is uid (zombies included)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _proc_uid(int(entry)) == uid:
            pids.append(int(entry))
    return pids


def _kill_and_wait(pids, timeout=STOP_TIMEOUT, reap_grace=5):
    """SIGKILL pids that are not our children and wait until they are gone;
    return those still alive after timeout.  Orphans are reaped by pid 1:
    wait up to reap_grace s for their zombies to vanish too, so that
    `ps -u USER` is empty afterwards."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    start = time.monotonic()
    while True:
        present = [p for p in pids if os.path.exists("/proc/%d" % p)]
        alive = [p for p in present if not _is_zombie(p)]
        elapsed = time.monotonic() - start
        if not present or (not alive and elapsed > reap_grace) or elapsed > timeout:
            return alive
        time.sleep(0.05)


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def reap_stale(name=USER):
    """Clean up after a test run that died (SIGKILL): kill the processes of
    the test user whose HOME lies in a host directory whose owner process is
    gone, then remove make_workdir() directories whose owner is gone.  What
    belongs to live runs (concurrent suites) is left alone.  Returns the
    pids killed."""
    stale = []
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = None
    for pid in user_pids(uid) if uid is not None else []:
        home = _proc_env(pid, "HOME")
        if home and _owner_gone(os.path.join(os.path.dirname(home), "owner")):
            stale.append(pid)
    _kill_and_wait(stale)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        d = os.path.join(tmp, entry)
        if entry.startswith(WORKDIR_PREFIX) and _owner_gone(os.path.join(d, "owner")):
            shutil.rmtree(d, ignore_errors=True)
    return stale


def _owner_stamp():
    return "%d %s\n" % (os.getpid(), _proc_start_time(os.getpid()))


def _owner_gone(path):
    """True if the owner file at path names a process that is gone."""
    try:
        with open(path) as f:
            pid, start = f.read().split()
    except (OSError, ValueError):
        return False
    return _proc_start_time(int(pid)) != start


def make_workdir(prefix=WORKDIR_PREFIX):
    """A temporary directory the test user can traverse, removed at exit
    (or by reap_stale() in a later run if this one is SIGKILLed)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    with open(os.path.join(d, "owner"), "w") as f:
        f.write(_owner_stamp())
    _workdirs.append(d)
    return d


def make_pattern(path, size=1 << 20, seed=None):
    """Write size random bytes to path, readable by the test user."""
    data = os.urandom(size) if seed is None else random.Random(seed).randbytes(size)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return data


def allow_user(path, name=USER):
    """Give path (e.g. a socket root listens on) to the test user."""
    pw = pwd.getpwnam(name)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def cleanup():
    """Stop every host, remove every make_workdir() directory (atexit)."""
    for h in reversed(list(_hosts)):
        try:
            h.stop()
        except Exception as e:  # keep cleaning up
            print("# cleanup of host %s: %s" % (h.name, e))
    for d in _workdirs:
        shutil.rmtree(d, ignore_errors=True)
    del _workdirs[:]


def exit_on_signals():
    """Turn SIGTERM/SIGINT/SIGHUP into sys.exit so that cleanup() runs."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


atexit.register(cleanup)


def wait_ready(*hosts, timeout=START_TIMEOUT):
    """Wait for several hosts at once (started with wait=False): libvirt
    probes QEMU on a host's first connection, not at start, so this is what
    lets the probes run in parallel.  Returns their times dicts."""
    pending = list(hosts)
    while pending:
        pending = [h for h in pending if not h._poll_ready(h._t0 + timeout)]
        if pending:
            time.sleep(0.05)
    return [h.times for h in hosts]


def _virsh_env():
    return {"PATH": PATH, "LC_ALL": "C", "HOME": os.environ.get("HOME", "/root")}


class Host:
    """One libvirt "host": a session libvirtd run as the test user.

    host.uri          connection URI (root can use it)
    host.dir          <workdir>/<name>, everything of this host
    host.scratch      a directory the user can write (pmemsave) and root reads
    host.private_dir  bind source of migration_dir (private_mounts only)
    host.times        {"socket": s, "ready": s} measured by wait_ready()
    """

    def __init__(self, name, workdir, migration_dir=None, private_mounts=False,
                 host_uuid=None, wait=True, timeout=START_TIMEOUT):
        if private_mounts and not migration_dir:
            raise HostError("private_mounts needs a migration_dir")
        self.name = name
        self.uid, self.gid = ensure_user()
        self.migration_dir = os.path.abspath(migration_dir) if migration_dir else None
        self.private_mounts = private_mounts
        self.host_uuid = host_uuid or str(uuid.uuid4())
        self.proc = None
        self.spawned = []
        self.times = {}
        self.last_create_seconds = None
        self._stopped = False
        self._probe = None
        self.killed = []

        workdir = os.path.abspath(workdir)
        self._check_traversable(workdir)
        self.dir = os.path.join(workdir, name)
        self.home = os.path.join(self.dir, "home")
        self.config = os.path.join(self.dir, "config")
        self.runtime = os.path.join(self.dir, "runtime")
        self.cache = os.path.join(self.dir, "cache")
        self.data = os.path.join(self.dir, "data")
        self.state = os.path.join(self.dir, "state")
        self.scratch = os.path.join(self.dir, "scratch")
        self.private_dir = os.path.join(self.dir, "migrate") if private_mounts else None
        self.log = os.path.join(self.dir, "libvirtd.log")
        self.socket = os.path.join(self.runtime, "libvirt", "libvirt-sock")
        self.uri = "qemu+unix:///session?socket=" + self.socket

        # libvirt binds the QEMU monitor socket at
        # <config>/libvirt/qemu/lib/domain-<id>-<name up to 20>/monitor.sock
        longest = len(self.config) + len("/libvirt/qemu/lib/domain-9999-") + 20 + \
            len("/monitor.sock")
        if longest > 107:
            raise HostError("%s is too long a path for libvirt's unix sockets (108 "
                            "bytes at most): use a shorter workdir or TMPDIR" % self.dir)
        os.mkdir(self.dir, 0o755)
        with open(os.path.join(self.dir, "owner"), "w") as f:
            f.write(_owner_stamp())
        for d, mode in ((self.home, 0o700), (self.config, 0o700),
                        (self.runtime, 0o700), (self.cache, 0o700),
                        (self.data, 0o700), (self.state, 0o700),
                        (self.scratch, 0o755),
                        (os.path.join(self.config, "libvirt"), 0o700)):
            os.mkdir(d, mode)
            os.chown(d, self.uid, self.gid)
        if self.private_dir:
            os.mkdir(self.private_dir, 0o755)
            os.chown(self.private_dir, self.uid, self.gid)
        if self.migration_dir and not os.path.isdir(self.migration_dir):
            os.mkdir(self.migration_dir, 0o755)
            os.chown(self.migration_dir, self.uid, self.gid)
        self._write_conf("libvirtd.conf", 'host_uuid = "%s"\n' % self.host_uuid)
        self._write_conf("qemu.conf", 'stdio_handler = "file"\n')

        _hosts.append(self)
        argv = self._as_user(["libvirtd", "--timeout", "0"], pdeathsig=True)
        with open(self.log, "ab") as log:
            self._t0 = time.monotonic()
            self.proc = subprocess.Popen(self._in_view(argv), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid  # unshare, sh, setpriv and env all exec
        if wait:
            self.wait_ready(timeout)

    # -- setup helpers -------------------------------------------------------

    @staticmethod
    def _check_traversable(path):
        p = path
        while p != "/":
            st = os.stat(p)
            if not st.st_mode & 0o001:
                raise HostError("%s is not traversable by others (mode %o): "
                                "the libvirt user needs o+x (make_workdir() does it)"
                                % (p, st.st_mode & 0o7777))
            p = os.path.dirname(p)

    def _write_conf(self, name, text):
        path = os.path.join(self.config, "libvirt", name)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, self.uid, self.gid)

    def user_env(self):
        """The environment libvirtd (and as_user processes) get, complete."""
        return {"HOME": self.home, "XDG_CONFIG_HOME": self.config,
                "XDG_RUNTIME_DIR": self.runtime, "XDG_CACHE_HOME": self.cache,
                "XDG_DATA_HOME": self.data, "XDG_STATE_HOME": self.state,
                "PATH": PATH, "LC_ALL": "C"}

    def _as_user(self, argv, env=None, pdeathsig=False):
        e = self.user_env()
        e.update(env or {})
        return (["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid),
                 "--init-groups"] + (["--pdeathsig", "TERM"] if pdeathsig else [])
                + ["env", "-i"] + ["%s=%s" % kv for kv in sorted(e.items())]
                + list(argv))

    def _in_view(self, argv):
        """argv wrapped to run in this host's mount view (exec chain: the
        returned process's pid is argv's own)."""
        if not self.private_mounts:
            return list(argv)
        return ["unshare", "-m", "--propagation", "private", "--",
                "/bin/sh", "-c", 'mount --bind -- "$1" "$2" && shift 2 && exec "$@"',
                "sh", self.private_dir, self.migration_dir] + list(argv)

    def real_path(self, path):
        """Where root in the initial mount namespace finds path of this host's
        view (the migration dir of a private_mounts host is its private_dir)."""
        path = os.path.abspath(path)
        if self.private_mounts and (path == self.migration_dir or
                                    path.startswith(self.migration_dir + "/")):
            return self.private_dir + path[len(self.migration_dir):]
        return path

    # -- processes -----------------------------------------------------------

    def wait_ready(self, timeout=START_TIMEOUT):
        """Wait until the socket accepts and `virsh version` answers."""
        return wait_ready(self, timeout=timeout)[0]

    def _poll_ready(self, deadline):
        """One step of wait_ready(): True once ready."""
        if "ready" in self.times:
            return True
        self._check_alive()
        if "socket" not in self.times:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.socket)
                self.times["socket"] = time.monotonic() - self._t0
            except OSError:
                pass
            finally:
                s.close()
        elif self._probe is None:
            self._probe = subprocess.Popen(
                ["virsh", "-q", "-c", self.uri, "version"], env=_virsh_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
        elif self._probe.poll() is not None:
            err = self._probe.stderr.read().decode(errors="replace").strip()
            self._probe.stderr.close()
            ok = self._probe.returncode == 0
            self._probe = None
            if ok:
                self.times["ready"] = time.monotonic() - self._t0
                return True
            self._last_error = err
        if time.monotonic() > deadline:
            what = ("no socket %s" % self.socket if "socket" not in self.times
                    else "virsh version did not answer (%s)"
                    % (getattr(self, "_last_error", None) or "still waiting"))
            if self._probe:
                self._probe.kill()
                self._probe.wait()
                self._probe.stderr.close()
                self._probe = None
            raise HostError("%s: %s after %ds%s" % (self.name, what,
                                                     deadline - self._t0, self._log_tail()))
        return False

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise HostError("%s: libvirtd exited with %s%s"
                            % (self.name, self.proc.returncode, self._log_tail()))

    def _log_tail(self, lines=15):
        try:
            with open(self.log, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            return ""
        return "".join("\n#   " + l for l in tail)

    def spawn(self, argv, env=None, log=None, as_user=False, **kwargs):
        """Start argv in this host's mount view; return its Popen (pid = argv's).
        As root with env (default: ours) unless as_user, then as the test user
        with user_env() + env.  Stopped by stop()."""
        if as_user:
            argv, env = self._as_user(argv, env), None
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(self._in_view(argv), env=env,
                                 stdin=kwargs.pop("stdin", subprocess.DEVNULL),
                                 stdout=kwargs.pop("stdout", out),
                                 stderr=kwargs.pop("stderr", subprocess.STDOUT if log
                                                   else subprocess.DEVNULL), **kwargs)
        finally:
            if log:
                out.close()
        self.spawned.append(p)
        return p

    def run_in_namespace(self, argv, as_user=False, **kwargs):
        """subprocess.run(argv) in this host's mount view."""
        if as_user:
            argv = self._as_user(argv)
        kwargs.setdefault("timeout", VIRSH_TIMEOUT)
        return subprocess.run(self._in_view(argv), **kwargs)

    def own_pids(self):
        """Processes of this host besides the spawned ones: libvirtd and the
        QEMUs it started (user's processes whose HOME is this host's)."""
        return [p for p in user_pids(self.uid)
                if _proc_env(p, "HOME") == self.home and not _is_zombie(p)]

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop spawned processes and libvirtd by pid (SIGTERM, SIGKILL after
        timeout), then SIGKILL this host's QEMUs by pid (libvirtd leaves them
        running; `virsh destroy` would cost ~1.5 s each).  Idempotent; returns
        notes on anything abnormal."""
        if self._stopped:
            return []
        self._stopped = True
        notes = []
        if self._probe:
            self._probe.kill()
            self._probe.wait()
            self._probe.stderr.close()
            self._probe = None
        for p in self.spawned + ([self.proc] if self.proc else []):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    notes.append("pid %d ignored SIGTERM for %ds" % (p.pid, timeout))
                    p.kill()
                    p.wait()
        self.killed = self.own_pids()
        survivors = _kill_and_wait(self.killed, timeout)
        if survivors:
            notes.append("pids %s survive SIGKILL" % survivors)
        if self in _hosts:
            _hosts.remove(self)
        return notes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- libvirt -------------------------------------------------------------

    def virsh_run(self, *args, timeout=VIRSH_TIMEOUT):
        """subprocess.CompletedProcess of `virsh -c URI ARGS` run as root."""
        return subprocess.run(["virsh", "-q", "-c", self.uri] + [str(a) for a in args],
                              env=_virsh_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def virsh(self, *args, timeout=VIRSH_TIMEOUT):
        """stdout of `virsh -c URI ARGS`; HostError with virsh's message on failure."""
        r = self.virsh_run(*args, timeout=timeout)
        if r.returncode != 0:
            raise HostError("virsh -c %s %s: %s" % (self.name, " ".join(map(str, args)),
                                                    r.stderr.strip() or r.returncode))
        return r.stdout

    def domains(self):
        """Names of the running domains."""
        return self.virsh("list", "--name").split()

    def domain_xml(self, name, memory_mib=256, extra_devices_xml="", pattern=None,
                   pattern_addr=PATTERN_ADDR, qemu_args=()):
        args = list(qemu_args)
        if pattern:
            args += ["-device", "loader,file=%s,addr=0x%x" % (pattern, pattern_addr)]
        cmdline = ""
        if args:
            cmdline = ("  <qemu:commandline>\n" +
                       "".join("    <qemu:arg value=%s/>\n" % quoteattr(a) for a in args) +
                       "  </qemu:commandline>\n")
        return ("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
                "  <name>%s</name>\n"
                "  <memory unit='MiB'>%d</memory>\n"
                "  <vcpu>1</vcpu>\n"
                "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
                "  <devices>\n"
                "    <emulator>%s</emulator>\n"
                "    <controller type='usb' model='none'/>\n"
                "    <memballoon model='none'/>\n"
                "%s"
                "  </devices>\n"
                "%s"
                "</domain>\n" % (escape(name), memory_mib, escape(QEMU),
                                 extra_devices_xml, cmdline))

    def create_domain(self, name, memory_mib=256, extra_devices_xml="", pattern=None,
                      pattern_addr=PATTERN_ADDR, qemu_args=()):
        """Start a transient TCG domain (no disk, network, graphics); pattern:
        a file (readable by the user) loaded into RAM at pattern_addr with
        -device loader.  Returns the domain XML used."""
        xml = self.domain_xml(name, memory_mib, extra_devices_xml, pattern,
                              pattern_addr, qemu_args)
        path = os.path.join(self.dir, "domain-%s.xml" % name)
        with open(path, "w") as f:
            f.write(xml)
        t0 = time.monotonic()
        self.virsh("create", path)
        self.last_create_seconds = time.monotonic() - t0
        return xml

    def qmp(self, domain, command, timeout=VIRSH_TIMEOUT):
        """Run a QMP command (dict or JSON text) through libvirt's monitor
        passthrough; return its "return" value, QMPError on an error reply."""
        if not isinstance(command, str):
            command = json.dumps(command)
        r = self.virsh_run("qemu-monitor-command", domain, "--pretty", command,
                           timeout=timeout)
        try:
            reply = json.loads(r.stdout)
        except ValueError:
            raise QMPError("%s %s: %s" % (self.name, command,
                                          (r.stderr or r.stdout).strip()))
        if "error" in reply:
            raise QMPError("%s %s: %s" % (self.name, command, reply["error"].get("desc")))
        return reply.get("return")

    def pmemsave(self, domain, addr, size):
        """size bytes of guest physical memory at addr, read through QMP."""
        path = os.path.join(self.scratch, "pmemsave-%s-%x.bin" % (domain, addr))
        self.qmp(domain, {"execute": "pmemsave",
                          "arguments": {"val": addr, "size": size, "filename": path}})
        try:
            with open(path, "rb") as f:
                return f.read()
        finally:
            os.unlink(path)
