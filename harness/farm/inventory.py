"""The farm file (`farm.yaml`): which lab host each device is attached to, and its class.

    name: nightly-lab
    classes:
      board: {description: Raspberry Pi 5, 8 GB}
    hosts:
      lab-a:
        devices:
          - {profile: rpi5-01, class: board, recovery: "ssh rpi5-01 sudo reboot"}
          - {profile: device_profiles/rpi5-02.yaml, class: board}

A device is one physical target, named by its profile's id (a profile id, or a path
relative to the farm file). A class is a pool of identical devices: a job for a class runs
on any healthy device of it. `recovery` is a command run on the device's host (an argv
list, or a string split like a shell would, never run through one) before a quarantined
device is checked again.

Each device becomes one Ray custom resource ``device:<id>`` on its host's node, and each
host node carries the label ``farm/host=<host>``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import HarnessError, ProfileError, describe_validation_error
from harness.profiles import DeviceProfile, load_profile, read_yaml_file

M = TypeVar("M", bound=BaseModel)

HOST_LABEL = "farm/host"
RESOURCE_PREFIX = "device:"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def device_resource(device_id: str) -> str:
    """The Ray custom resource a device's host advertises (one unit: the device itself)."""
    return f"{RESOURCE_PREFIX}{device_id}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FarmDevice(_Strict):
    profile: str = Field(description="Profile id, or a YAML path relative to the farm file.")
    device_class: str = Field(alias="class", description="The pool of identical devices it belongs to.")
    recovery: list[str] | None = Field(
        None,
        description="Command run on the device's host to bring a quarantined device back "
        "(adb reboot, an ssh reboot, a power switch): an argv list, or a string split like a shell.",
    )
    recovery_timeout_s: float = Field(300.0, gt=0)

    @field_validator("recovery", mode="before")
    @classmethod
    def _split(cls, v):
        if isinstance(v, str):
            try:
                v = shlex.split(v)
            except ValueError as e:
                raise ValueError(f"cannot split the command: {e}") from None
        if v is not None and not v:
            raise ValueError("an empty command")
        return v


class FarmHost(_Strict):
    devices: list[FarmDevice] = Field(default_factory=list)


class DeviceClass(_Strict):
    description: str | None = None


class HealthPolicy(_Strict):
    """Thresholds of the health registry (see harness.farm.health)."""

    quarantine_failures: int = Field(3, ge=1, description="transient failures in the window that quarantine")
    quarantine_window: int = Field(10, ge=1, description="the device's last N jobs")
    max_retries: int = Field(2, ge=0, description="retries of a transient failure, each on another device")
    recovery_checks: int = Field(3, ge=1, description="passing liveness checks that bring a device back")
    recovery_check_interval_s: float = Field(5.0, ge=0)
    min_free_bytes: int = Field(100_000_000, ge=0, description="liveness: free space in the work folder")
    check_timeout_s: float = Field(60.0, gt=0, description="liveness check: longest it may take")


class RayFootprint(_Strict):
    """What each `harness farm host` node asks of Ray: kept small so lab hosts stay lab hosts."""

    num_cpus: int = Field(1, ge=0)
    object_store_bytes: int = Field(100_000_000, ge=80_000_000, description="Ray refuses less than ~75 MB")


class FarmFile(_Strict):
    name: str = Field("farm", pattern=NAME)
    classes: dict[Annotated[str, Field(pattern=NAME)], DeviceClass] = Field(default_factory=dict)
    hosts: dict[Annotated[str, Field(pattern=NAME)], FarmHost]
    health: HealthPolicy = Field(default_factory=HealthPolicy)
    ray: RayFootprint = Field(default_factory=RayFootprint)

    @model_validator(mode="after")
    def _classes_known(self):
        for host, h in self.hosts.items():
            for i, d in enumerate(h.devices):
                if d.device_class not in self.classes:
                    known = ", ".join(sorted(self.classes)) or "none"
                    raise ValueError(
                        f"hosts.{host}.devices.{i}.class: unknown class {d.device_class!r} (classes: {known})"
                    )
        return self


class Device(BaseModel):
    """One physical device of the farm, its profile resolved."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: str
    host: str
    device_class: str
    profile: DeviceProfile
    recovery: tuple[str, ...] | None = None
    recovery_timeout_s: float = 300.0

    @property
    def resource(self) -> str:
        return device_resource(self.id)


class Farm:
    """A loaded farm file: its devices with their profiles, by id and by class."""

    def __init__(self, spec: FarmFile, devices: list[Device], source: Path | None):
        self.spec = spec
        self.source = source
        self.devices = {d.id: d for d in devices}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def policy(self) -> HealthPolicy:
        return self.spec.health

    def device(self, device_id: str) -> Device:
        try:
            return self.devices[device_id]
        except KeyError:
            known = ", ".join(sorted(self.devices)) or "none"
            raise HarnessError(f"unknown farm device {device_id!r} (devices: {known})") from None

    def of_class(self, name: str) -> list[Device]:
        return [d for d in self.devices.values() if d.device_class == name]

    def on_host(self, host: str) -> list[Device]:
        if host not in self.spec.hosts:
            known = ", ".join(sorted(self.spec.hosts)) or "none"
            raise HarnessError(f"{self.source}: no host {host!r} in the farm file (hosts: {known})")
        return [d for d in self.devices.values() if d.host == host]


def read_spec(path: Path, what: str, model: type[M]) -> M:
    """A YAML file checked against its pydantic model; one error naming the file and the field."""
    data = read_yaml_file(path, what, HarnessError)
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise HarnessError(f"{path}: {describe_validation_error(e)}") from None


def load_farm(path: Path | str, profile_dirs: list[Path] | None = None) -> Farm:
    """Parse and check a farm file; every device profile is loaded (errors name the entry)."""
    path = Path(path)
    spec = read_spec(path, "farm", FarmFile)
    devices: list[Device] = []
    seen: dict[str, str] = {}
    for host, h in spec.hosts.items():
        for i, entry in enumerate(h.devices):
            where = f"{path}: hosts.{host}.devices.{i}.profile"
            ref = entry.profile
            local = (path.parent / ref) if ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute() else ref
            try:
                profile = load_profile(local, profile_dirs)
            except ProfileError as e:
                raise HarnessError(f"{where}: {e}") from None
            if profile.id in seen:
                raise HarnessError(f"{where}: device {profile.id!r} is already attached to host {seen[profile.id]!r}")
            seen[profile.id] = host
            devices.append(
                Device(
                    id=profile.id,
                    host=host,
                    device_class=entry.device_class,
                    profile=profile,
                    recovery=tuple(entry.recovery) if entry.recovery else None,
                    recovery_timeout_s=entry.recovery_timeout_s,
                )
            )
    return Farm(spec, devices, path)


def schema_of(model: type[BaseModel], title: str) -> dict:
    """JSON schema of a file format, for editors (yaml-language-server)."""
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def json_schema() -> dict:
    return schema_of(FarmFile, "harness farm file")
