"""UnifyBench++: the benchmark for personalized unified multimodal models.

`build` turns the authors' release folder, read as is, into a versioned
benchmark folder; `load` reads one back (and `.to_hf()` gives a
`datasets.DatasetDict`).
"""

from .builder import BENCHMARK_FORMATS, MINI_DEFAULT_OUT, MINI_NAME, MINI_SOURCE, BuildResult, build, check_format
from .errors import SourceError
from .loader import Benchmark, load
from .schema import SCHEMA_VERSION, TASKS
from .splits import SplitConfig

__all__ = [
    "BENCHMARK_FORMATS",
    "MINI_DEFAULT_OUT",
    "MINI_NAME",
    "MINI_SOURCE",
    "SCHEMA_VERSION",
    "TASKS",
    "Benchmark",
    "BuildResult",
    "SourceError",
    "SplitConfig",
    "build",
    "check_format",
    "load",
]
