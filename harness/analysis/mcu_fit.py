"""What an int8 TFLite model needs on a microcontroller running TensorFlow Lite Micro.

- ``arena_bytes``: the tensor arena TFLM allocates for the model, measured by the
  ``tflite-micro`` Python interpreter's recording allocator on the host (activations
  planned by TFLM's greedy memory planner + persistent runtime structures). The
  persistent part is measured with 64-bit host pointers, so a 32-bit MCU needs a few
  hundred bytes less; activations are the same.
- ``flash_bytes``: the model flatbuffer, which firmware keeps in flash as a const array.
  The TFLM runtime and kernel code are not included (they depend on the op set,
  toolchain and kernel library).

The interpreter runs in a child process: TFLM aborts the whole process when an arena is
too small or an op is unsupported, and that must not take the caller down.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from harness.analysis.model_types import McuFit

# Runs in the child: allocate with a generous arena, then print the recorded usage.
_CHILD = r"""
import sys
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
interp = runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
sys.stderr.flush()
interp.print_allocations()
"""
_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_TAIL = re.compile(r"Arena allocation tail (\d+) bytes")
TIMEOUT_S = 120


def _runtime_version() -> str:
    try:
        from tflite_micro import __version__

        return f"tflite-micro {__version__}"
    except Exception:  # the package is missing or broken: say so in the result
        return "tflite-micro (not importable)"


def measure_arena(path: Path, arena_size: int) -> tuple[int | None, int | None, str | None]:
    """(arena total, persistent part, error) from one child-process allocation."""
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(arena_size)],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, None, f"TFLite Micro allocation timed out after {TIMEOUT_S} s"
    text = proc.stdout + proc.stderr
    total, tail = _TOTAL.search(text), _TAIL.search(text)
    if proc.returncode == 0 and total:
        return int(total.group(1)), int(tail.group(1)) if tail else None, None
    # TFLM says why on its own lines before Python's traceback
    reasons = [ln.strip() for ln in text.split("Traceback")[0].splitlines() if ln.strip()]
    why = "; ".join(reasons[:2]) or (text.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return None, None, f"TFLite Micro could not allocate the model: {why}"


def _arena_too_small(error: str | None) -> bool:
    return error is not None and "Failed to allocate" in error


@lru_cache(maxsize=64)
def _fit(path_str: str, sha256: str) -> McuFit:
    path = Path(path_str)
    size = path.stat().st_size
    # Generous first guess (activations rarely exceed 4x the model); once 8x more if short.
    arena = max(4 * size, 1 << 20)
    total, persistent, error = measure_arena(path, arena)
    if _arena_too_small(error):
        total, persistent, error = measure_arena(path, arena * 8)
    return McuFit(arena_bytes=total, arena_persistent_bytes=persistent, flash_bytes=size,
                  runtime=_runtime_version(), note=error)


def mcu_fit(path: Path, sha256: str) -> McuFit:
    """Arena and flash needs of an int8 TFLite model (cached per file content)."""
    return _fit(str(Path(path).resolve()), sha256).model_copy()
