"""The Ray side of the farm: joining a cluster as a lab host, or starting one locally.

`host_command` is the `ray start` that `harness farm host` runs on each lab machine: the
node advertises one custom resource per attached device (``device:<id>``: 1) and the
label ``farm/host=<host>``, with a small footprint (few CPUs, a small object store, no
dashboard). `connect` attaches the driver (`harness farm run`) to a cluster, or, with no
address, starts a local one carrying this host's devices: the same resources and labels,
so the rest of the farm cannot tell the two apart.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import HarnessError
from harness.farm.inventory import HOST_LABEL, Farm

NAMESPACE = "harness-farm"

# Quiet Ray: no usage reporting, no autoscaler tips printed into the CLI's output.
_RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_SCHEDULER_EVENTS": "0", "RAY_DEDUP_LOGS": "0"}


def this_host(farm: Farm, host: str | None) -> str:
    """The farm host this machine is: --host, else the one named like this machine, else the only one."""
    if host:
        farm.on_host(host)  # checks it exists
        return host
    name = socket.gethostname()
    if name in farm.spec.hosts:
        return name
    if len(farm.spec.hosts) == 1:
        return next(iter(farm.spec.hosts))
    raise HarnessError(
        f"{farm.source}: this machine ({name}) is none of the farm's hosts "
        f"({', '.join(sorted(farm.spec.hosts))}): say which with --host"
    )


def node_resources(farm: Farm, host: str) -> dict[str, float]:
    return {d.resource: 1.0 for d in farm.on_host(host)}


def host_command(farm: Farm, host: str, address: str | None, port: int = 6379, node_ip: str | None = None,
                 temp_dir: str | None = None) -> list[str]:
    """`ray start --block` for one lab host (the head node when `address` is None)."""
    argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats"]
    argv += [f"--address={address}"] if address else ["--head", f"--port={port}", "--include-dashboard=false"]
    argv += [
        f"--resources={json.dumps(node_resources(farm, host))}",
        f"--labels={HOST_LABEL}={host}",
        f"--num-cpus={farm.spec.ray.num_cpus}",
        f"--object-store-memory={farm.spec.ray.object_store_bytes}",
    ]
    if node_ip:
        argv.append(f"--node-ip-address={node_ip}")
    if temp_dir:
        argv.append(f"--temp-dir={temp_dir}")
    return argv


@contextmanager
def connect(farm: Farm, address: str | None, host: str | None = None) -> Iterator[None]:
    """Attach to the cluster at `address`, or start a local one with this host's devices."""
    import ray

    for k, v in _RAY_ENV.items():
        os.environ.setdefault(k, v)
    common = {"namespace": NAMESPACE, "logging_level": "WARNING", "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            name = this_host(farm, host)
            ray.init(
                num_cpus=farm.spec.ray.num_cpus,
                resources=node_resources(farm, name),
                labels={HOST_LABEL: name},
                object_store_memory=farm.spec.ray.object_store_bytes,
                include_dashboard=False,
                **common,
            )
    except ConnectionError as e:
        raise HarnessError(f"cannot reach the Ray cluster at {address}: {e}") from None
    try:
        yield
    finally:
        ray.shutdown()


def advertised() -> dict[str, str]:
    """Device resource → the host label of the alive node advertising it (Ray's node table)."""
    import ray

    out: dict[str, str] = {}
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        host = (node.get("Labels") or {}).get(HOST_LABEL, node.get("NodeManagerHostname", "?"))
        for res in node.get("Resources", {}):
            if res.startswith("device:"):
                out[res] = host
    return out


def node_alive(node_id: str) -> bool:
    import ray

    return any(n.get("NodeID") == node_id and n.get("Alive") for n in ray.nodes())
