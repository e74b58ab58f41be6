"""What an ingest format declares: how to turn a saved tool log into run records.

An ingest format is an `IngestFormat` subclass registered under the ``harness.ingest``
entry-point group (the entry point's name is the ``harness ingest --format`` value and the
class's `name`). It only parses: `harness.ingest.ingest_file` reads the file, resolves the
device and model, and writes one record per parsed run with the same metadata, benchmark
key and failure classification as ``harness run``::

    class LlamaBenchFormat(IngestFormat):
        name = "llama_bench"
        description = "llama-bench output (markdown, csv or json)"

        def parse(self, text: str, source: Path) -> list[IngestedRun]:
            ...  # one IngestedRun per result row; raise IngestError for a file that is not this format

Declarations: ``name``, ``description`` (one line for ``harness ingest --help``).
Method: ``parse(text, source) -> list[IngestedRun]``; a file that is not this format is an
`IngestError` (nothing is written). Pure tool-output parsers live in `harness.logs` (or
next to their runner); the ingest format maps what they return onto `IngestedRun`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from harness.errors import HarnessError, RuntimeFailure
from harness.store.record import RuntimeInfo, StopRule
from harness.store.recorder import Recorder

T = TypeVar("T")


class IngestError(HarnessError):
    """The file is not a log of this format (or a line of it does not parse)."""


@dataclass
class IngestedRun:
    """One run a log describes: what a runner would have put in the recorder, and the
    configuration the log says it ran under."""

    recorder: Recorder
    #: the runtime the log's tool is (``RunConfig.runtime``; need not be a runner's)
    runtime: str
    #: the rule the tool ran under (e.g. fixed, its run count)
    stop: StopRule
    threads: int | None = None
    delegate: str | None = None
    #: the model as the log names it (a path or a name), its format and size, when it says
    model_name: str | None = None
    model_format: str = "unknown"
    model_size_bytes: int | None = None
    #: how precisely the log states that size, relative (benchmark_model: MB to 6 significant
    #: digits, so within half a unit of the 6th); a --model file further off is not this model
    model_size_rel_tol: float = 5e-6
    #: the log records a failure: its message, and the error class it is
    failure: str | None = None
    failure_class: type[HarnessError] = RuntimeFailure
    #: tool options the log states (recorded as ``config.options``, and in the benchmark key)
    options: dict[str, Any] = field(default_factory=dict)
    #: more fields for ``harness ingest --json``
    json_extra: dict[str, Any] = field(default_factory=dict)


class IngestFormat(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        """The runs the log describes; `IngestError` when it is not this format."""


def read_log(parse: Callable[[str, str], T], text: str, source: Path) -> T:
    """`parse(text, source)`, its HarnessError (empty, not this format…) as an `IngestError`."""
    try:
        return parse(text, str(source))
    except HarnessError as e:
        raise IngestError(str(e)) from None


def tool_recorder(tool: str, library: str, text: str) -> Recorder:
    """A recorder for a run one tool's log describes, the log kept verbatim as ``raw/<tool>``."""
    rec = Recorder(runtime=RuntimeInfo(name=tool, library=library))
    rec.add_raw(tool, text.splitlines())
    return rec
