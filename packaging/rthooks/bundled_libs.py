# PyInstaller runtime hook: make ctypes.util.find_library() return the libraries shipped in
# the bundle (libzbar for pyzbar) before the system's. On Linux find_library only asks
# ldconfig, which never sees sys._MEIPASS, so pyzbar would fail on a machine without libzbar0.
import ctypes.util
import glob
import os
import sys


def _install():
    if not sys.platform.startswith("linux"):
        return  # PyInstaller already searches the bundle on Windows and macOS
    system_find_library = ctypes.util.find_library

    def find_library(name):
        bundled = sorted(glob.glob(os.path.join(sys._MEIPASS, f"lib{glob.escape(name)}.so*")))
        return bundled[0] if bundled else system_find_library(name)

    ctypes.util.find_library = find_library


_install()
