# SPDX-License-Identifier: LGPL-2.1-or-later
# vmig_check: the assertions the Python suites share (dbus-suite.py,
# test-libvirt.py): a failed one raises Failure with a message that says
# what was expected and what came.  Stdlib only.

import time


class Skip(Exception):
    """A test that cannot run here: run_tap reports it as skipped, with the reason."""


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def check_equal(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def wait_for(predicate, what, timeout):
    """Polls predicate() until it returns something true, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(0.02)


def run_tap(tests, setup=None):
    """Runs setup(), then each (path, func) of @tests, printing TAP (with each
    test's time).  A failed setup fails every test.  Returns: how many failed."""
    import traceback

    print("1..%d" % len(tests), flush=True)
    failed = 0
    setup_error = None
    try:
        if setup:
            setup()
    except Exception:
        setup_error = traceback.format_exc()
    for n, (path, func) in enumerate(tests, 1):
        if setup_error:
            print("not ok %d %s" % (n, path))
            if n == 1:
                print("# setup failed: " + setup_error.replace("\n", "\n# "))
            failed += 1
            continue
        start = time.monotonic()
        try:
            func()
            print("ok %d %s" % (n, path))
            print("# %.1f s" % (time.monotonic() - start), flush=True)
        except Skip as e:
            print("ok %d %s # SKIP %s" % (n, path, e), flush=True)
        except Exception:
            failed += 1
            print("not ok %d %s" % (n, path))
            print("# " + traceback.format_exc().replace("\n", "\n# "), flush=True)
    return failed
