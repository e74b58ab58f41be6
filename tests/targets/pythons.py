"""Virtual environments that stand for the Pythons boards ship, built once and cached.

Each `harness.agent.matrix.TESTED` entry becomes a venv built from a real interpreter
of that minor version (pyenv's, as on this machine image and CI's:
``$PYENV_ROOT/versions/X.Y.Z``, ``~/.pyenv/versions``, ``/root/.pyenv/versions``, else
``pythonX.Y`` on PATH) with the entry's runtime packages from PyPI, under
``~/.cache/harness/target-pythons/<name>-<hash>`` (``$HARNESS_TARGET_PYTHONS``
overrides the folder). A venv counts as built once its runtimes imported at the pinned
versions (a ``.ok`` marker); builds are locked per venv, so parallel test workers
build each once. A missing interpreter is an error naming it — never a skip.

    python -m tests.targets.pythons          # build every one now (the tests do it lazily)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.agent.matrix import TESTED, TargetEnv
from harness.cache import cache_root


class MissingInterpreter(RuntimeError):
    """No interpreter of a Python version the matrix tests."""


def cache_dir() -> Path:
    env = os.environ.get("HARNESS_TARGET_PYTHONS")
    return Path(env).expanduser() if env else cache_root() / "target-pythons"


def _pyenv_roots() -> list[Path]:
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    seen: list[Path] = []
    for r in roots:
        if r and Path(r) not in seen:
            seen.append(Path(r))
    return seen


def find_interpreter(version: str) -> Path:
    """The newest X.Y.* interpreter for `version` ("3.6"); `MissingInterpreter` names what was searched."""
    looked = []
    for root in _pyenv_roots():
        versions = root / "versions"
        looked.append(f"{versions}/{version}.*/bin/python")
        if versions.is_dir():
            found = sorted(
                (p for p in versions.iterdir() if p.name.startswith(version + ".") and p.name[len(version) + 1:].isdigit()),
                key=lambda p: int(p.name.rsplit(".", 1)[1]),
            )
            for p in reversed(found):
                exe = p / "bin" / "python"
                if os.access(exe, os.X_OK):
                    return exe
    which = shutil.which(f"python{version}")
    looked.append(f"python{version} on PATH")
    if which:
        return Path(which)
    raise MissingInterpreter(
        f"Python {version} interpreter not found (looked for {'; '.join(looked)}): the target matrix tests need it "
        f"— install it (e.g. `pyenv install {version}`) or set PYENV_ROOT"
    )


def _key(env: TargetEnv, interpreter: Path) -> str:
    real = subprocess.run([str(interpreter), "-c", "import sys; print(sys.version)"], capture_output=True,
                          text=True, check=True).stdout.strip()
    return hashlib.sha256(json.dumps([env.name, env.requirements(), real]).encode()).hexdigest()[:10]


# Imports each runtime in the new venv and prints its version: what `.ok` certifies.
_CHECK = """
import json, sys
out = {"python": sys.version.split()[0]}
for lib in sys.argv[1:]:
    mod = __import__(lib)
    out[lib] = getattr(mod, "__version__", "unknown")
print(json.dumps(out))
"""


def ensure_env(env: TargetEnv, log=None) -> Path:
    """The python executable of `env`'s venv, built first if it is not cached."""
    interpreter = find_interpreter(env.python)
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{env.name}-{_key(env, interpreter)}"
    python = venv / "bin" / "python"
    ok = venv / ".ok"
    with open(root / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ok.is_file():
            return python
        if venv.exists():
            shutil.rmtree(venv)  # a build that broke off half-way
        say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        say(f"building target venv {venv.name} from {interpreter}: {' '.join(env.requirements())}")

        def run(*argv: str) -> str:
            res = subprocess.run(argv, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"{venv.name}: {' '.join(argv)} failed ({res.returncode}):\n"
                                   f"{(res.stdout + res.stderr)[-3000:]}")
            return res.stdout

        run(str(interpreter), "-m", "venv", str(venv))
        # Old bundled pips (3.6's is 18.1) cannot read manylinux2014 wheel tags.
        run(str(python), "-m", "pip", "install", "-q", "--upgrade", "pip<22" if env.python == "3.6" else "pip<25")
        run(str(python), "-m", "pip", "install", "-q", *env.requirements())
        got = json.loads(run(str(python), "-c", _CHECK, *env.runtimes).strip().splitlines()[-1])
        for lib, want in env.runtimes.items():
            if got.get(lib) != want:
                raise RuntimeError(f"{venv.name}: {lib} imports as version {got.get(lib)}, expected {want}")
        ok.write_text(json.dumps(got) + "\n")
    return python


def main() -> int:
    failed = 0
    for env in TESTED:
        try:
            print(f"{env.name}: {ensure_env(env)}", flush=True)
        except (MissingInterpreter, RuntimeError) as e:
            failed += 1
            print(f"{env.name}: FAILED: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
