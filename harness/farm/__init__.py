"""The nightly device farm on Ray: many lab hosts, device leases, health, retries, CI outputs.

- `inventory`: the farm file (hosts, devices, classes, recovery commands).
- `plan`: the plan file (models × classes × runtimes × option sets, tags, canary).
- `cluster`: lab hosts join a Ray cluster (`harness farm host`); or a local one.
- `actor`: one Ray actor per device, the lease; `liveness`: the check before each job.
- `scheduler`: the driver (`harness farm run`): jobs to devices, retries, records to one store.
- `health`, `registry`: LAVA-style health states, quarantine, recovery, the canary.
- `sharing`: reservations and status; `ci`: JUnit XML, markdown; `gate`: the regression hook.
"""

from harness.farm.inventory import Farm, load_farm
from harness.farm.plan import Plan, load_plan

__all__ = ["Farm", "Plan", "load_farm", "load_plan"]
