# PyInstaller runtime hook (Linux, one-file build): the program runs as the child of the small
# launcher that unpacked it. Killed with SIGKILL, the launcher cannot pass the signal on, and
# this process would live on as an orphan with its redis-server. Ask the kernel for a SIGTERM
# when the launcher dies instead: the station then stops as it does on Ctrl-C.
import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _install():
    if not sys.platform.startswith("linux"):
        return
    launcher = os.getppid()
    try:
        # Only under our own launcher (one-file build), never under a shell or a service manager.
        if os.path.realpath(f"/proc/{launcher}/exe") != os.path.realpath(sys.executable):
            return
    except OSError:
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != launcher:  # it died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


_install()
