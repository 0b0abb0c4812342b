"""Executors: the compute moto does not run, attached to a twin.

An executor is attached once per twin (`twin.executor(Kind)`), may patch moto in-process when the twin is
embedded (so moto's own APIs reach real work: a Lambda invoke, later a Glue job run or an Athena query), and is
closed when the twin stops. Later executors (Glue job runs on local Spark, EMR Serverless, Athena on DuckDB, DMS,
Step Functions tasks) subclass `Executor`, decorate with `@register_executor`, and are listed in BUILTIN_MODULES.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from retail_lake.twin.account import Twin

BUILTIN_MODULES = (
    "retail_lake.twin.executors.lambda_runtime",
    "retail_lake.twin.executors.kinesis_poller",
    "retail_lake.twin.executors.glue_jobs",
    "retail_lake.twin.executors.emr_serverless",
    "retail_lake.twin.executors.dms",
    "retail_lake.twin.executors.step_functions",
    "retail_lake.twin.executors.athena",
)


class Executor:
    name: ClassVar[str]
    twin: Twin

    def attach(self, twin: Twin) -> None:
        self.twin = twin

    def close(self) -> None:
        """Undo patches, stop threads, release files."""


class _Registry(dict[str, type[Executor]]):
    def __missing__(self, key: str) -> type[Executor]:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(f"no executor named {key!r}; known: {sorted(self)}")


EXECUTORS: dict[str, type[Executor]] = _Registry()


def register_executor(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.name] = cls
    return cls
