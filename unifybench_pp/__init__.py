"""UnifyBench++: the benchmark for personalized unified multimodal models.

`build` turns a UnifyBench source plus the UnifyBench++ annotation file into a
versioned benchmark folder; `load` reads one back (and `.to_hf()` gives a
`datasets.DatasetDict`).
"""

from .builder import MINI_ANNOTATIONS, MINI_SOURCE, BuildResult, build
from .errors import SourceError
from .loader import Benchmark, load
from .schema import SCHEMA_VERSION, TASKS
from .splits import SplitConfig

__all__ = [
    "MINI_ANNOTATIONS",
    "MINI_SOURCE",
    "SCHEMA_VERSION",
    "TASKS",
    "Benchmark",
    "BuildResult",
    "SourceError",
    "SplitConfig",
    "build",
    "load",
]
