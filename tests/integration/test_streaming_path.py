"""The streaming path end to end on the embedded twin, deployed from the synthesized cloud assembly:
generator -> producer -> Kinesis -> stream-transform Lambda (as deployed) -> raw + quarantine."""

from __future__ import annotations

import io
import json
import re

import pyarrow.parquet as pq
import pytest

from retail_lake.cli import main as cli_main
from retail_lake.generator import GeneratorConfig, generate
from retail_lake.ingestion.producer import KinesisProducer
from retail_lake.privacy.cards import luhn_valid
from retail_lake.reconcile import Reconciliation, count_lake
from retail_lake.twin import Twin

pytestmark = pytest.mark.integration

# Written here, not imported from the code under test: a card number as people and systems write it,
# 13-19 digits in one run or grouped 4-4-4-4(-3) or 4-6-5/4-6-4 by spaces or dashes, standing alone
# (identifiers like UUIDs contain digit groups too, but never stand alone in these shapes).
DIGIT_RUN = re.compile(
    r"(?<![\w-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-])"
)


def _stored_card_numbers(texts):
    return [m.group(0) for text in texts for m in DIGIT_RUN.finditer(text)
            if luhn_valid(re.sub(r"[ -]", "", m.group(0)))]


@pytest.fixture(scope="module")
def streamed(dev_assembly):
    stream = generate(GeneratorConfig(events=20_000, seed=11, defect_rate=0.004))
    lines, report = list(stream), stream.report
    with Twin() as twin:
        twin.deploy(dev_assembly)
        storage = twin.outputs["RetailLake-dev-Storage"]
        ingestion = twin.outputs["RetailLake-dev-Ingestion"]
        produced = KinesisProducer(twin.client("kinesis"), ingestion["StreamName"]).send(lines)
        drained = twin.kinesis_poller.drain()
        s3 = twin.client("s3")
        lake = count_lake(s3, raw_bucket=storage["RawBucketName"], quarantine_bucket=storage["QuarantineBucketName"],
                          sqs=twin.client("sqs"), on_failure_queue_url=ingestion["OnFailureQueueUrl"])
        texts = []
        for bucket in (storage["RawBucketName"], storage["QuarantineBucketName"]):
            for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if obj["Key"].endswith(".parquet"):
                    texts.append(json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str))
                else:
                    texts.append(body.decode())
        yield {"lines": lines, "report": report, "produced": produced, "drained": drained, "lake": lake,
               "texts": texts}


def test_every_event_lands_in_exactly_one_place(streamed):
    rec = Reconciliation(produced=streamed["produced"].events, lake=streamed["lake"],
                         expected=streamed["report"].expected).check()
    assert rec.ok, rec.problems
    assert streamed["produced"].events == len(streamed["lines"]) == 20_000
    assert streamed["lake"].failed_batches == []
    assert streamed["produced"].kinesis_records < streamed["produced"].events / 20  # aggregated


def test_quarantine_reasons_match_the_injected_defects(streamed):
    expected = {k: v for k, v in streamed["report"].expected["quarantined"].items() if v}
    assert dict(streamed["lake"].quarantined) == expected
    assert set(expected) >= {"malformed_json", "missing_field", "wrong_type", "invalid_value", "unknown_field"}


def test_no_card_number_reaches_any_bucket(streamed):
    assert streamed["report"].expected["card_numbers_in_free_text"] > 0
    assert _stored_card_numbers(streamed["texts"]) == []


def test_demo_command_with_input_json_and_export(dev_assembly, tmp_path, capsys):
    lines = list(generate(GeneratorConfig(events=3_000, seed=5, defect_rate=0.0)))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines[:2_000] + [b"{not json", b'{"record_type": "returns"}']) + b"\n")
    export = tmp_path / "export"
    code = cli_main(["demo", "--input", str(events), "--json", "--export", str(export),
                     "--assembly", str(dev_assembly)])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert code == 0, out[-20:]
    assert summary["produced"] == 2_002
    assert summary["raw"] == 2_000
    assert summary["quarantined"] == {"malformed_json": 1, "unknown_record_type": 1}
    assert summary["seconds"] > 0 and summary["reconciled"] is True
    exported = [p for p in export.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in exported) and any(p.suffix == ".jsonl" for p in exported)
    assert len({p.relative_to(export).parts[0] for p in exported}) >= 2  # raw and quarantine buckets
