# vmig_check: the assertions the Python suites share (dbus-suite.py,
# test-libvirt.py): a failed one raises Failure with a message that says
# what was expected and what came.  Stdlib only.

import time


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
