"""The data folders harness ships beside its code: device profiles, the model zoo, the MCU firmware.

In the repository (and an editable install) they are the top-level folders
``device_profiles/``, ``model_zoo/`` and ``firmware/``, next to the ``harness`` package.
A wheel carries copies of them inside the package, under ``harness/_shipped/`` (the build
step in ``setup.py`` puts them there; an sdist holds the top-level folders, so a wheel
built from it gets them too). `shipped_dir` finds a folder in either layout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: the top-level data folders, as the repository lays them out
SHIPPED_DIRS = ("device_profiles", "model_zoo", "firmware")
#: where a wheel keeps them, inside the package
PACKAGED_SUBDIR = "_shipped"


def shipped_dir(name: str) -> Path:
    """The folder `name` (one of SHIPPED_DIRS) of this installation: the wheel's copy, else the checkout's."""
    if name not in SHIPPED_DIRS:
        raise ValueError(f"{name!r} is not a shipped folder ({', '.join(SHIPPED_DIRS)})")
    packaged = resources.files("harness").joinpath(PACKAGED_SUBDIR, name)
    # installed from a wheel: a real folder inside the package (never zipped: pip unpacks wheels)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name
