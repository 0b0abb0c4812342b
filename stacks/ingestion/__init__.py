"""Streaming ingestion: the Kinesis stream, the stream-transform Lambda and their failure handling."""

from stacks.ingestion.ingestion_stack import IngestionStack
from stacks.ingestion.stream_ingestion import StreamIngestion
from stacks.ingestion.stream_ingestion_props import StreamIngestionProps

__all__ = ["IngestionStack", "StreamIngestion", "StreamIngestionProps"]
