"""Build step that pyproject.toml cannot declare: ship the top-level data folders in the wheel.

``device_profiles/``, ``model_zoo/`` and ``firmware/`` stay at the top of the repository;
a wheel (built from the tree or from the sdist, which MANIFEST.in makes carry them) gets
a copy of each under ``harness/_shipped/``, where `harness.shipped.shipped_dir` finds it.
An editable install copies nothing: it reads the folders in the checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED_DIRS = ("device_profiles", "model_zoo", "firmware")  # as harness.shipped.SHIPPED_DIRS
# build output and caches that may sit in a working copy (model_zoo/build.py is kept: only "build" dirs go)
IGNORE = shutil.ignore_patterns("build", "__pycache__", "*.pyc", "*.o", "*.elf")


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in SHIPPED_DIRS:
            src = HERE / name
            if not src.is_dir():
                raise FileNotFoundError(f"{src}: missing from the source tree (an sdist without it was built "
                                        "without MANIFEST.in?)")
            dst = Path(self.build_lib) / "harness" / "_shipped" / name
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=IGNORE)


setup(cmdclass={"build_py": build_py_with_data})
