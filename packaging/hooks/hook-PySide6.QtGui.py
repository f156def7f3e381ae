# Replaces PyInstaller's own hook for PySide6.QtGui (hooks here take precedence) to leave out
# the GTK3 platform theme: it needs the system's GTK, would drag the build machine's cairo,
# pango and glib into the bundle (5 MB) and could clash with the target's GTK. Qt falls back
# to its own theme; the window does not use native GTK dialogs.
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [entry for entry in binaries if "libqgtk3" not in entry[0]]
