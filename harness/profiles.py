"""Device profiles: what a target is, how to reach it, what it can do.

One YAML file per device under `device_profiles/`. `load_profile` accepts a profile
id or a path to a YAML file. Extra folders are searched from `--profiles DIR` and the
``HARNESS_PROFILES`` environment variable (``os.pathsep``-separated), before the
built-in folder. Validation errors name the file, the field path and the reason.

Units are SI: Hz, bytes, bytes/s, ops/s, °C, seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    WrapValidator,
    field_validator,
    model_validator,
)

from harness import plugins
from harness.errors import HarnessError, ProfileError, describe_validation_error, unknown_name
from harness.shipped import shipped_dir

BUILTIN_DIR = shipped_dir("device_profiles")
ENV_VAR = "HARNESS_PROFILES"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- transport ---------------------------------------------------------------------------


class LocalTransportSpec(_Strict):
    kind: Literal["local"]
    workdir: str | None = Field(None, description="Work folder; default: a per-user cache folder.")


class SshTransportSpec(_Strict):
    kind: Literal["ssh"]
    host: str
    port: int = 22
    user: str | None = None
    key: str | None = Field(None, description="Private key file; default: ssh agent and ~/.ssh keys.")
    known_hosts: str | None = Field(None, description="known_hosts file; default ~/.ssh/known_hosts.")
    host_key_policy: Literal["strict", "trust-on-first-use"] = Field(
        "strict",
        description="'strict' refuses unknown host keys; 'trust-on-first-use' records the key "
        "on first connect (the run record notes it).",
    )
    jump: str | None = Field(None, description="Jump host as [user@]host[:port].")
    keepalive_s: float = 15.0
    connect_timeout_s: float = 10.0
    workdir: str = "/tmp/harness"


class AdbTransportSpec(_Strict):
    kind: Literal["adb"]
    address: str | None = Field(None, description="host:port for adb over TCP (e.g. 192.168.1.20:5555).")
    serial: str | None = Field(None, description="USB serial number (needs the 'usb' extra).")
    adbkey: str | None = Field(None, description="RSA key; default: generated in the user's config folder.")
    connect_timeout_s: float = 10.0
    workdir: str = "/data/local/tmp/harness"

    @model_validator(mode="after")
    def _one_address(self):
        if not self.address and not self.serial:
            raise ValueError("give 'address' (host:port, adb over TCP) or 'serial' (USB)")
        return self


class QemuSpec(_Strict):
    machine: str = "mps2-an386"
    cpu: str = "cortex-m4"
    icount_shift: int = Field(0, description="-icount shift: one instruction = 2^shift ns.")
    firmware: str | None = Field(None, description="ELF to boot; default: built from firmware/.")


class SerialTransportSpec(_Strict):
    kind: Literal["serial"]
    port: str | None = Field(None, description="pyserial URL: /dev/ttyACM0, COM3, socket://h:p, rfc2217://h:p")
    baud: int = 115200
    emulator: QemuSpec | None = Field(None, description="Start this emulated board instead of opening a port.")
    line_timeout_s: float = 5.0
    infer_timeout_s: float = 30.0

    @model_validator(mode="after")
    def _port_or_emulator(self):
        if not self.port and self.emulator is None:
            raise ValueError("give 'port' (a pyserial URL) or 'emulator'")
        if self.port and self.emulator is not None:
            raise ValueError(f"give 'port' ({self.port!r}) or 'emulator', not both: a board is either "
                             "connected or emulated")
        return self


class PluginTransportSpec(_Strict):
    """Base of a plugin transport's profile section (`Transport.spec`): its `kind` is the
    transport's entry-point name; its other fields are the plugin's."""

    kind: str


def _plugin_transport(value: Any, handler: Any) -> Any:
    """A transport kind that is not built in is validated by its plugin's `spec` model."""
    kind = value.get("kind") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind not in _BUILTIN_KINDS:
        spec = getattr(plugins.load_one("harness.transports", kind), "spec", None)
        if isinstance(spec, type) and issubclass(spec, PluginTransportSpec):
            return spec.model_validate(value)
    return handler(value)


_BUILTIN_KINDS = ("local", "ssh", "adb", "serial")
TransportSpec = Annotated[
    SerializeAsAny[
        Annotated[
            LocalTransportSpec | SshTransportSpec | AdbTransportSpec | SerialTransportSpec,
            Field(discriminator="kind"),
        ]
    ],
    WrapValidator(_plugin_transport),
]

# -- hardware ----------------------------------------------------------------------------


class CpuCluster(_Strict):
    name: str
    core: str = Field(description="Core type, e.g. Cortex-A76.")
    cpus: list[NonNegativeInt] = Field(min_length=1, description="Logical CPU numbers in this cluster.")
    max_freq_hz: float | None = None

    @property
    def affinity_mask(self) -> str:
        """Hex mask for `taskset`, derived from `cpus` so the two cannot disagree."""
        return format(sum(1 << c for c in self.cpus), "x")


class Hardware(_Strict):
    soc: str | None = None
    cpu_clusters: list[CpuCluster] = Field(default_factory=list)
    peak_ops_per_s: dict[str, float] = Field(
        default_factory=dict, description="Datasheet peak per dtype (fp32, fp16, int8), ops/s."
    )
    memory_bandwidth_bytes_per_s: float | None = None
    memory_bytes: int | None = None
    sram_bytes: int | None = None
    flash_bytes: int | None = None
    clock_hz: float | None = None
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Where each number comes from: field name -> datasheet/reference note.",
    )

    @model_validator(mode="after")
    def _every_number_has_a_source(self):
        given = [
            name
            for name in (
                "peak_ops_per_s",
                "memory_bandwidth_bytes_per_s",
                "memory_bytes",
                "sram_bytes",
                "flash_bytes",
                "clock_hz",
            )
            if getattr(self, name)
        ]
        missing = [name for name in given if name not in self.sources]
        if missing:
            raise ValueError(f"no source note in 'sources' for: {', '.join(missing)}")
        return self

    def cluster(self, name: str) -> CpuCluster:
        for c in self.cpu_clusters:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.cpu_clusters) or "none"
        raise ProfileError(f"no CPU cluster named {name!r} (clusters: {known})")


# -- sensors -----------------------------------------------------------------------------


class HwmonRail(_Strict):
    """An INA3221-style rail, found by its label (hwmonN numbering changes between boots)."""

    label: str
    driver_dir: str = Field(
        "/sys/bus/i2c/drivers/ina3221",
        description="Folder searched for hwmon*/in*_label files.",
    )


class Sensors(_Strict):
    thermal_zones: list[str] = Field(
        default_factory=list, description="Zone types to sample (from thermal_zoneN/type); ['*'] = all."
    )
    cpufreq_cpus: list[int] = Field(default_factory=list, description="CPUs whose scaling_cur_freq is sampled.")
    battery: str | None = Field(None, description="power_supply folder, e.g. /sys/class/power_supply/battery")
    hwmon_rails: list[HwmonRail] = Field(default_factory=list)
    rapl: bool = False
    tegrastats: bool = False
    vcgencmd: bool = False
    pmic_read_adc: bool = Field(False, description="Raspberry Pi 5 PMIC rails (perturbs the workload: slow rate).")
    power_monitor: Literal["joulescope", "ppk2", "lpm01a"] | None = None
    power_monitor_port: str | None = None
    rate_hz: float = 20.0


# -- the rest ----------------------------------------------------------------------------


class Limits(_Strict):
    max_temp_c: float | None = Field(None, description="Abort a run whose hottest zone crosses this.")
    cooldown_temp_c: float | None = Field(None, description="Before a run, wait until below this.")
    cooldown_timeout_s: float = 600.0


class Defaults(_Strict):
    threads: int | None = None
    cluster: str | None = Field(None, description="Run pinned to this CPU cluster (taskset mask).")
    runtime: str | None = None
    python: str | None = Field(None, description="Python on the target for the agent; default python3.")


class TargetTool(_Strict):
    """Where a runner's tool (llama-bench, harness-llm-driver…) comes from on a target."""

    path: str | None = Field(None, description="Path of the tool on the target.")
    push: str | None = Field(
        None, description="Host file pushed to the target's work folder (content-hash cache) and run from there."
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.push is None):
            raise ValueError("give the tool's 'path' on the target or a host file to 'push', one of them")
        return self


def runtime_names() -> list[str]:
    """The runtime names a profile may list: those the registered runners declare
    (`harness.runners.base.Runner.runtimes`), read without importing the runner package."""
    names: list[str] = []
    for cls in plugins.load("harness.runners").values():
        names += [rt for rt in getattr(cls, "runtimes", ()) if isinstance(rt, str) and rt not in names]
    return names


class DeviceProfile(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str
    description: str | None = None
    transport: TransportSpec
    hardware: Hardware = Field(default_factory=Hardware)
    sensors: Sensors = Field(default_factory=Sensors)
    runtimes: list[str] = Field(default_factory=lambda: ["tflite", "onnx"])
    benchmark_binary: str | None = Field(
        None, description="Host path of TFLite's benchmark_model for this device (never downloaded)."
    )
    tools: dict[str, TargetTool] = Field(
        default_factory=dict,
        description="Tools runners start on the target, by name (llama-bench, harness-llm-driver…): "
        "{path: ON_TARGET} or {push: HOST_FILE}; a plain string is a path on the target. A tool not listed "
        "is looked up on the target's PATH; none is ever downloaded.",
    )
    limits: Limits = Field(default_factory=Limits)
    defaults: Defaults = Field(default_factory=Defaults)

    @field_validator("tools", mode="before")
    @classmethod
    def _plain_path(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"path": t} if isinstance(t, str) else t for k, t in v.items()}
        return v

    @field_validator("runtimes")
    @classmethod
    def _known_runtimes(cls, v: list[str]) -> list[str]:
        known = runtime_names()
        unknown = [r for r in v if r not in known]
        if unknown:
            raise ValueError(f"unknown runtime(s) {unknown}; known: {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _default_cluster_exists(self):
        if self.defaults.cluster and self.defaults.cluster not in {c.name for c in self.hardware.cpu_clusters}:
            raise ValueError(f"defaults.cluster {self.defaults.cluster!r} is not in hardware.cpu_clusters")
        return self

    #: file the profile was loaded from (not part of the schema)
    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str | None:
        return self._source


# -- loading -----------------------------------------------------------------------------


def search_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Folders searched for profiles, in order: --profiles, $HARNESS_PROFILES, built-in."""
    dirs = [Path(p) for p in (extra or [])]
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(BUILTIN_DIR)
    return dirs


def parse_profile(data: Any, source: Path) -> DeviceProfile:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        profile = DeviceProfile.model_validate(data)
    except ValidationError as e:
        raise ProfileError(f"{source}: {describe_validation_error(e)}") from None
    profile._source = str(source)
    return profile


def read_yaml_file(path: Path, what: str = "profile", error: type[HarnessError] = ProfileError) -> Any:
    """A YAML file's data; a missing/unreadable file or bad YAML is one `error` naming file:line:column."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(f"{path}{where}: invalid YAML: {problem}") from None


def load_profile_file(path: Path) -> DeviceProfile:
    path = Path(path)
    return parse_profile(read_yaml_file(path), path)


def _candidates(dirs: list[Path]) -> list[Path]:
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir():
            seen.extend(sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml")))
    return seen


def load_profile(ref: str | Path, extra_dirs: list[Path] | None = None) -> DeviceProfile:
    """A profile by id (searched in the profile folders) or by path to a YAML file."""
    ref_s = str(ref)
    as_path = Path(ref_s).expanduser()
    if ref_s.endswith((".yaml", ".yml")) or os.sep in ref_s or as_path.is_file():
        return load_profile_file(as_path)
    dirs = search_dirs(extra_dirs)
    for d in dirs:
        for suffix in (".yaml", ".yml"):
            p = d / f"{ref_s}{suffix}"
            if p.is_file():
                return load_profile_file(p)
    # A file may be named differently from its id.
    for p in _candidates(dirs):
        try:
            data = yaml.safe_load(p.read_text())
        except (yaml.YAMLError, OSError):
            continue
        if isinstance(data, dict) and data.get("id") == ref_s:
            return parse_profile(data, p)
    raise ProfileError(unknown_name("device", ref_s, {p.stem for p in _candidates(dirs)}))


def list_profiles(extra_dirs: list[Path] | None = None) -> tuple[list[DeviceProfile], list[ProfileError]]:
    """Every profile in the search folders; invalid ones come back as errors, not exceptions."""
    profiles: list[DeviceProfile] = []
    errors: list[ProfileError] = []
    seen_ids: set[str] = set()
    for p in _candidates(search_dirs(extra_dirs)):
        try:
            prof = load_profile_file(p)
        except ProfileError as e:
            errors.append(e)
            continue
        if prof.id in seen_ids:  # an earlier folder overrides a later one
            continue
        seen_ids.add(prof.id)
        profiles.append(prof)
    return profiles, errors


def json_schema() -> dict:
    """JSON schema of a profile file, for editors (yaml-language-server)."""
    schema = DeviceProfile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "harness device profile"
    return schema
