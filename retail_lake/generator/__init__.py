"""Synthetic retail data: reference tables and a seeded, deterministic event stream with exact defects.

    from retail_lake.generator import GeneratorConfig, generate, write_jsonl
    stream = generate(GeneratorConfig(events=10_000, seed=7))
    for line in stream: ...            # bytes, one JSON event each, no newline
    stream.report.expected             # what the stream Lambda should store, quarantine and mask
    stream.report.defects_by_dataset   # exact defective lines per dataset and class: what its rules must find
"""

from retail_lake.generator.config import DEFECT_CLASSES, GeneratorConfig, GeneratorConfigError
from retail_lake.generator.defects import DEFECT_OUTCOMES
from retail_lake.generator.reference import (
    Customer,
    Product,
    Promotion,
    ReferenceData,
    Store,
    customers,
    products,
    promotions,
    reference_data,
    stores,
)
from retail_lake.generator.reference_writer import write_reference_data
from retail_lake.generator.report import GenerationReport
from retail_lake.generator.stream import GeneratedStream, generate, write_jsonl

__all__ = [
    "DEFECT_CLASSES",
    "DEFECT_OUTCOMES",
    "Customer",
    "GeneratedStream",
    "GenerationReport",
    "GeneratorConfig",
    "GeneratorConfigError",
    "Product",
    "Promotion",
    "ReferenceData",
    "Store",
    "customers",
    "generate",
    "products",
    "promotions",
    "reference_data",
    "stores",
    "write_jsonl",
    "write_reference_data",
]
