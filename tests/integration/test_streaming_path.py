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

def _card_numbers_sent(lines):
    """Every card number the input carries, found without the code under test: the `card_number` values
    (also in lines that are not valid JSON) and the string values that are a whole card number (where
    the generator types one into free text)."""
    numbers = {m.decode() for line in lines for m in re.findall(rb'"card_number":"(\d{13,19})"', line)}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        numbers.update(v for v in _strings(event) if re.fullmatch(r"\d{13,19}", v) and luhn_valid(v))
    return numbers


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.fixture(scope="module")
def streamed(dev_assembly):
    stream = generate(GeneratorConfig(events=20_000, seed=11, defect_rate=0.004))
    lines, report = list(stream), stream.report
    with Twin() as twin:
        twin.deploy(dev_assembly)
        storage = twin.outputs["RetailLake-dev-Storage"]
        ingestion = twin.outputs["RetailLake-dev-Ingestion"]
        produced = KinesisProducer(twin.client("kinesis"), ingestion["StreamName"]).send(lines)
        s3 = twin.client("s3")

        def landed() -> bool:
            counts = count_lake(s3, raw_bucket=storage["RawBucketName"], quarantine_bucket=storage["QuarantineBucketName"])
            return counts.raw_total + counts.quarantined_total >= produced.events

        drained = twin.settle(landed, timeout=300)
        lake = count_lake(s3, raw_bucket=storage["RawBucketName"], quarantine_bucket=storage["QuarantineBucketName"],
                          sqs=twin.client("sqs"), on_failure_queue_url=ingestion["OnFailureQueueUrl"])
        texts = []  # every string value stored, and every stored object as text
        for bucket in (storage["RawBucketName"], storage["QuarantineBucketName"]):
            for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if obj["Key"].endswith(".parquet"):
                    texts.extend(_strings(pq.read_table(io.BytesIO(body)).to_pylist()))
                else:
                    texts.append(body.decode())
                    texts.extend(_strings([json.loads(line) for line in body.splitlines()]))
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
    sent = _card_numbers_sent(streamed["lines"])
    assert streamed["report"].expected["card_numbers_in_free_text"] > 0 and len(sent) > 1_000
    digits_only = [re.sub(r"\D", "", text) for text in streamed["texts"]]
    leaked = {number for number in sent for stored in digits_only if number in stored}
    assert leaked == set()


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
