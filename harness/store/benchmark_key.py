"""Which runs may be compared: a short, stable hash over everything that must be equal.

Two runs with the same ``benchmark_key`` measured the same model, on the same device,
with the same runtime and configuration; a regression gate or a dashboard groups runs by
it. The record stores the key and the list of fields it covers
(``RunManifest.benchmark_key_fields``), so a later harness that covers more fields still
tells which ones an old key was made of.

Fields covered (`KEY_FIELDS`, in this order):

- ``device.id``, ``device.serial`` (the hardware serial, when the transport reads one)
- ``model.sha256`` (for an ingested log without the model file: ``model.name``)
- ``runtime.name``, ``runtime.version``
- ``config.threads``, ``config.delegate``, ``config.affinity_mask``
- ``config.inputs`` (the inputs file's sha256; absent: the seed of the random inputs)
- ``config.stop`` (the whole stopping rule)
- ``config.options`` (the runner options, every one with its value, defaults included)

Not covered, on purpose: timestamps, the harness version, the host, telemetry settings,
metadata tags. The key is the first 16 hex digits of the sha256 of the fields' canonical
JSON (sorted keys, no spaces): the same on every host and Python.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.digest import sha256_of

KEY_FIELDS = [
    "device.id",
    "device.serial",
    "model.sha256",
    "runtime.name",
    "runtime.version",
    "config.threads",
    "config.delegate",
    "config.affinity_mask",
    "config.inputs",
    "config.stop",
    "config.options",
]


def key_values(manifest, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values the key covers, by field name. `options`: the runner's full options
    (defaults included); default: the options recorded in the config."""
    cfg = manifest.config
    inputs = f"seed:{cfg.seed}"
    if cfg.inputs:
        path = Path(cfg.inputs)
        inputs = f"sha256:{sha256_of(path)}" if path.is_file() else f"file:{path.name}"
    return {
        "device.id": manifest.device.id,
        "device.serial": manifest.device.serial,
        "model.sha256": manifest.model.sha256 or f"name:{manifest.model.name}",
        "runtime.name": manifest.runtime.name,
        "runtime.version": manifest.runtime.version,
        "config.threads": cfg.threads,
        "config.delegate": cfg.delegate,
        "config.affinity_mask": cfg.affinity_mask,
        "config.inputs": inputs,
        "config.stop": cfg.stop.model_dump(mode="json"),
        "config.options": options if options is not None else cfg.options,
    }


def benchmark_key(manifest, options: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """(key, the fields it covers) of a manifest."""
    values = key_values(manifest, options)
    canonical = json.dumps([[f, values[f]] for f in KEY_FIELDS], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16], list(KEY_FIELDS)
