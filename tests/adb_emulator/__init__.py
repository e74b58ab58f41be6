"""A device-side ADB protocol emulator: an "Android phone" whose filesystem is a sandbox folder.

See device.py (the adbd side of the wire protocol), services.py (shell and sync),
benchmark_model.py (a stand-in for TFLite's benchmark_model that really runs the model
with LiteRT) and fixtures.py (pytest fixtures). Run one by hand with
``python -m tests.adb_emulator --sandbox DIR [--port N]``.
"""

from tests.adb_emulator.device import AdbEmulator

__all__ = ["AdbEmulator"]
