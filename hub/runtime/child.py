"""``python -m hub.runtime.child apply --follow``: how ``concord serve`` starts a worker
process (hub/runtime/children.py), so that from its first moment it answers to its server
alone.

Before anything heavy is imported it ignores SIGINT and SIGTERM: a terminal's Ctrl-C or a
service manager's SIGTERM to every process reaches the children too, and a child that stopped
on its own while the server was still finishing its requests would be started again. The
server stops a child by closing its stdin (``hub.runtime.follow``), and a child dies with its
server: Linux's parent-death signal (SIGKILL, as when the whole process is killed), and
elsewhere the closed stdin. Kept free of imports beyond the standard library, so the window
before the signals are set is the interpreter's start.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
PARENT = "CONCORD_PARENT_PID"  # hub.environment.PARENT_ENV, not imported: it loads settings


def answer_to_parent() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                print("concord: no parent-death signal; stopping on stdin's end", file=sys.stderr)
        except (OSError, AttributeError):
            pass
    parent = os.environ.get(PARENT, "")
    if parent.isdigit() and os.getppid() != int(parent):  # it died before prctl took hold
        sys.exit(0)


if __name__ == "__main__":
    answer_to_parent()
    from hub.cli.main import main

    sys.argv[0] = "concord"
    main()
