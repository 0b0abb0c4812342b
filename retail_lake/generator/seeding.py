"""Independent, seeded random streams per component, so that changing one part leaves the others alone."""

from __future__ import annotations

import zlib

import numpy as np

from retail_lake.generator.config import GeneratorConfig


def rng_for(config: GeneratorConfig, component: str, *extra: int) -> np.random.Generator:
    # crc32, not hash(): str hashes are salted per process and would break determinism
    key = [config.seed & 0xFFFFFFFF, config.seed >> 32, zlib.crc32(component.encode()), *extra]
    return np.random.default_rng(np.random.SeedSequence(key))
