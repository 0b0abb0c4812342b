"""The operational store end to end on the twin: a real PostgreSQL on 127.0.0.1, DMS started through boto3
(full load, then CDC through logical decoding into the restricted CDC landing bucket in DMS's layout), and the CDC
merge Glue job of the dev cloud assembly on local Spark. Curated must equal the database row for row after every
merge (personal columns compared by their pseudonyms), and no clear-text personal value of the database may appear
in any object of the lake's shared zones."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from retail_lake.sources.cdc import layout
from retail_lake.sources.cdc.reconcile import compare_all, read_prefix, twin_pseudonymizer
from retail_lake.sources.cdc.privacy_audit import find_clear_text, personal_values
from retail_lake.sources.cdc.replication_task import create_replication_task, landing_target
from retail_lake.sources.operational_db import workload
from retail_lake.sources.operational_db.tables import SCHEMA, TABLES
from retail_lake.twin import Twin
from retail_lake.twin.postgres import LocalPostgres

pytestmark = pytest.mark.integration

STORAGE, BATCH, INGESTION = "RetailLake-dev-Storage", "RetailLake-dev-Batch", "RetailLake-dev-Ingestion"
CURATED_PREFIX = "operational/"


class Source:
    def __init__(self, twin: Twin, pg: LocalPostgres, conn: Any, task_arn: str) -> None:
        self.twin, self.pg, self.conn, self.task_arn = twin, pg, conn, task_arn
        self.s3 = twin.client("s3")
        self.raw = twin.outputs[STORAGE]["RawBucketName"]
        self.curated = twin.outputs[STORAGE]["CuratedBucketName"]
        self.landing = twin.outputs[BATCH]["CdcLandingBucketName"]
        self.job = twin.outputs[BATCH]["CdcMergeJobName"]
        self.pseudonymizer = twin_pseudonymizer(twin.client("secretsmanager"),
                                                twin.outputs[INGESTION]["PseudonymizationSecretArn"])

    def caught_up(self) -> None:
        self.twin.executor("dms").wait_caught_up(self.task_arn, timeout=60)

    def merge(self) -> dict:
        glue = self.twin.client("glue")
        run_id = glue.start_job_run(JobName=self.job)["JobRunId"]
        run = self.twin.executor("glue").wait(self.job, run_id, timeout=300)
        assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
        return run

    def assert_curated_equals_database(self) -> None:
        for comparison in compare_all(self.conn, self.s3, self.curated, CURATED_PREFIX, self.pseudonymizer):
            assert comparison.equal, (comparison.table, comparison.only_in_database[:3], comparison.only_in_curated[:3])
            assert comparison.database_rows == comparison.curated_rows

    def keys(self, bucket: str, prefix: str) -> dict[str, str]:
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        return found


@pytest.fixture(scope="module")
def source(dev_assembly) -> Iterator[Source]:
    with LocalPostgres() as pg, psycopg.connect(pg.dsn, autocommit=True) as conn, Twin() as twin:
        if not twin.is_embedded:
            pytest.skip("the DMS executor runs on the embedded twin only")
        workload.create_schema(conn)
        workload.seed(conn, workload.Scale(stores=4, customers=40, products=30, orders=40), seed=5)
        deployment = twin.deploy(dev_assembly)
        twin.executor("dms", poll_interval=0.2)
        task_arn = create_replication_task(
            twin.client("dms"), twin.client("secretsmanager"), **landing_target(twin.outputs[BATCH]),
            connection=pg.connection_info(), name="retail-lake-test")
        twin.client("dms").start_replication_task(ReplicationTaskArn=task_arn,
                                                  StartReplicationTaskType="start-replication")
        src = Source(twin, pg, conn, task_arn)
        src.deployment = deployment
        src.caught_up()
        yield src
        twin.client("dms").stop_replication_task(ReplicationTaskArn=task_arn)


def test_the_sources_stack_deploys_with_nothing_skipped(source: Source) -> None:
    stack = source.deployment.stacks["RetailLake-dev-Sources"]
    assert [r for r in source.deployment.skipped if r[0] == "RetailLake-dev-Sources"] == []
    assert stack.of_type("Custom::S3BucketNotifications")


def test_full_load_and_changes_land_in_the_dms_layout_and_merge_to_the_database_state(source: Source) -> None:
    loads = source.keys(source.landing, f"{layout.BUCKET_FOLDER}/{SCHEMA}/")
    assert {f"dms/retail/{t.name}/LOAD00000001.parquet" for t in TABLES} <= set(loads)
    assert not source.keys(source.raw, f"{layout.BUCKET_FOLDER}/")  # nothing of DMS's output in the raw zone
    workload.apply_changes(source.conn, 250, seed=11)
    source.caught_up()
    files = source.keys(source.landing, f"{layout.BUCKET_FOLDER}/{SCHEMA}/")
    cdc = [k for k in files if not k.rsplit("/", 1)[1].startswith("LOAD")]
    assert cdc and all(re.fullmatch(r"dms/retail/\w+/\d{8}-\d{9}\.parquet", k) for k in cdc)
    first = source.s3.get_object(Bucket=source.landing, Key=sorted(cdc)[0])
    assert first["ServerSideEncryption"] == "aws:kms"
    assert first["SSEKMSKeyId"].endswith(source.twin.outputs[BATCH]["CdcLandingKeyArn"].rsplit("/", 1)[-1])
    sample = pq.read_table(io.BytesIO(first["Body"].read()))
    assert sample.column_names[:3] == [layout.OP_COLUMN, layout.COMMIT_TS_COLUMN, layout.CHANGE_SEQ_COLUMN]
    ops = {op for k in cdc for op in pq.read_table(io.BytesIO(
        source.s3.get_object(Bucket=source.landing, Key=k)["Body"].read()), columns=[layout.OP_COLUMN])[0].to_pylist()}
    assert ops == {"I", "U", "D"}
    source.merge()
    source.assert_curated_equals_database()


def test_type_2_history_follows_several_changes_of_one_customer_and_deletes(source: Source) -> None:
    conn = source.conn
    customer, = conn.execute(f"SELECT customer_id FROM {SCHEMA}.customers ORDER BY customer_id LIMIT 1").fetchone()
    erased, = conn.execute(f"SELECT customer_id FROM {SCHEMA}.customers ORDER BY customer_id DESC LIMIT 1").fetchone()
    source.merge()  # settle whatever came before this test
    before = read_prefix(source.s3, source.curated, f"{CURATED_PREFIX}customers_history/").to_pylist()
    versions_before = len([r for r in before if r["customer_id"] == customer])
    for city in ("Boston", "Denver", "Seattle"):
        conn.execute(f"UPDATE {SCHEMA}.customers SET city = %s, updated_at = now() WHERE customer_id = %s",
                     (city, customer))
    conn.execute(f"DELETE FROM {SCHEMA}.customers WHERE customer_id = %s", (erased,))
    source.caught_up()
    source.merge()
    source.assert_curated_equals_database()

    history = read_prefix(source.s3, source.curated, f"{CURATED_PREFIX}customers_history/").to_pylist()
    versions = sorted((r for r in history if r["customer_id"] == customer), key=lambda r: r["valid_from"])
    assert len(versions) == versions_before + 3
    assert [v["city"] for v in versions[-3:]] == ["Boston", "Denver", "Seattle"]
    for earlier, later in zip(versions, versions[1:]):  # contiguous, non-overlapping
        assert earlier["valid_to"] == later["valid_from"] and not earlier["is_current"]
    assert versions[-1]["is_current"] and versions[-1]["valid_to"] is None
    gone = [r for r in history if r["customer_id"] == erased]
    assert gone and not any(r["is_current"] for r in gone) and all(r["valid_to"] is not None for r in gone)
    state = read_prefix(source.s3, source.curated, f"{CURATED_PREFIX}customers/").to_pylist()
    assert erased not in {r["customer_id"] for r in state}
    # personal data reaches curated only as keyed pseudonyms
    first, last, email, phone, street = conn.execute(
        f"SELECT first_name, last_name, email, phone, street FROM {SCHEMA}.customers WHERE customer_id = %s",
        (customer,)).fetchone()
    (row,) = [r for r in state if r["customer_id"] == customer]
    p = source.pseudonymizer
    assert (row["first_name"], row["last_name"], row["email"], row["phone"], row["street"]) == (
        p.name(first), p.name(last), p.email(email), p.phone(phone), p.street(street))
    personal = ("first_name", "last_name", "email", "phone", "street")
    assert all(re.fullmatch(r"[0-9a-f]{64}", r[c]) for r in state + history for c in personal if r[c] is not None)


def test_merging_the_same_change_files_again_changes_nothing(source: Source) -> None:
    source.caught_up()
    source.merge()
    before = source.keys(source.curated, CURATED_PREFIX)
    source.merge()
    assert source.keys(source.curated, CURATED_PREFIX) == before  # not one object rewritten
    source.assert_curated_equals_database()


SOURCES = "RetailLake-dev-Sources"
PRICE_LIST = (b"supplier_id,product_id,unit_cost,currency,valid_from\n"
              b"SUP-0001,SKU-000001,7.15,USD,2026-11-01\n"
              b"SUP-0001,SKU-000002,abc,USD,2026-11-01\n"
              b"SUP-0001,SKU-000003,3.10,USD,2026-11-01\n")


def test_a_file_dropped_twice_into_landing_is_processed_once_by_the_deployed_function(source: Source) -> None:
    twin, s3 = source.twin, source.s3
    twin.lambda_runtime  # noqa: B018 - the deployed handlers run in-process when S3 notifies them
    landing = twin.outputs[SOURCES]["LandingBucketName"]
    quarantine = twin.outputs[STORAGE]["QuarantineBucketName"]
    for name in ("acme-2026-11-20.csv", "acme-2026-11-20.csv", "acme-resent.csv"):
        s3.put_object(Bucket=landing, Key=f"landing/supplier_price_lists/{name}", Body=PRICE_LIST)
    s3.put_object(Bucket=landing, Key="landing/supplier_price_lists/readme.txt", Body=b"not a drop")
    manifests = source.keys(source.curated, "file_drops/_manifest/")
    logs = "".join(p.read_text()[-3000:] for p in (twin.work_dir / "lambda").glob("*FileDrop*.log"))
    assert len(manifests) == 1, f"file-drop function log: {logs or '(none)'}"
    (entry,) = [json.loads(s3.get_object(Bucket=source.curated, Key=k)["Body"].read()) for k in manifests]
    assert (entry["rows"], entry["rejected"]) == (2, 1)
    data = [k for k in source.keys(source.curated, "file_drops/supplier_price_lists/")]
    assert len(data) == 1
    assert pq.read_table(io.BytesIO(s3.get_object(Bucket=source.curated, Key=data[0])["Body"].read())).num_rows == 2
    (rejected_key,) = source.keys(quarantine, "file_drops/")
    (rejected,) = [json.loads(line) for line in s3.get_object(Bucket=quarantine, Key=rejected_key)["Body"]
                   .read().decode().splitlines()]
    assert (rejected["line"], rejected["reason"]) == (3, "invalid_value")


def test_the_deployed_api_poller_lands_every_page_from_the_stand_in(source: Source) -> None:
    from retail_lake.twin.external_apis import ExternalApiStandIn

    twin = source.twin
    outputs = twin.outputs[SOURCES]
    source.caught_up()
    source.merge()  # the store locations come from curated operational/stores/
    with ExternalApiStandIn(api_key="twin-key", pages=2, page_size=4) as api:
        api.fail("/promotions", "429", "503")
        twin.client("secretsmanager").put_secret_value(
            SecretId=outputs["ApiSecretArn"], SecretString=json.dumps({"base_url": api.base_url, "api_key": "twin-key"}))
        response = twin.client("lambda").invoke(FunctionName=outputs["ApiPollerFunctionName"],
                                                Payload=json.dumps({"time": "2026-11-20T14:05:00Z"}).encode())
        result = json.loads(response["Payload"].read())
    stores = source.conn.execute(f"SELECT count(*) FROM {SCHEMA}.stores").fetchone()[0]
    assert result["failures"] == [], result
    assert result["pages"] == {"weather": stores, "competitor_prices": 2, "promotions": 2} and stores > 0
    assert result["retries"] == 2
    landed = source.keys(source.raw, "external_apis/")
    assert len(landed) == stores + 4
    assert all("/dt=2026-11-20/hour=14/" in key for key in landed)


def test_no_clear_text_personal_value_of_the_database_is_in_any_shared_zone(source: Source) -> None:
    """Every e-mail, phone, street and full name the database ever held (the landing bucket's change files keep each
    version, erased customers too) is searched for in every object of raw, curated, quarantine and analytics."""
    workload.apply_changes(source.conn, 150, seed=23)
    source.caught_up()
    source.merge()
    source.assert_curated_equals_database()
    values = personal_values(source.s3, source.landing, f"{layout.BUCKET_FOLDER}/{SCHEMA}/", source.conn)
    assert len(values.emails) >= 40 and len(values.phones) >= 30 and values.streets and values.full_names
    # the audit finds what it looks for: the landing bucket holds every one of them in clear text
    in_landing = find_clear_text(source.s3, [source.landing], values)
    assert {f.value.lower() for f in in_landing if f.kind == "email"} >= values.emails
    assert {f.kind for f in in_landing} == {"email", "phone", "street"}  # names: first and last in separate cells
    storage = source.twin.outputs[STORAGE]
    shared = [storage[f"{zone}BucketName"] for zone in ("Raw", "Curated", "Quarantine", "Analytics")]
    assert source.keys(source.curated, CURATED_PREFIX)  # there is something to search
    findings = find_clear_text(source.s3, shared, values)
    assert findings == [], findings[:5]


def test_the_curated_operational_tables_are_the_catalogued_ones_and_athena_reads_them(source: Source) -> None:
    """What the merge (and the file-drop function) wrote is what the Glue tables of the Sources stack declare:
    the same columns and types, read through Athena on the twin."""
    from retail_lake.sources.catalog import hive_type, source_tables

    source.caught_up()
    source.merge()
    glue = source.twin.client("glue")
    database = source.twin.outputs[BATCH]["CuratedDatabaseName"]
    for definition in source_tables():
        table = glue.get_table(DatabaseName=database, Name=definition.name)["Table"]
        declared = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert declared == definition.column_types, definition.name
        assert table["StorageDescriptor"]["Location"] == f"s3://{source.curated}/{definition.prefix}"
        files = [k for k in source.keys(source.curated, definition.prefix) if k.endswith(".parquet")]
        if definition.name.startswith("operational_"):
            assert files, definition.name
        for key in files[:3]:
            schema = pq.read_schema(io.BytesIO(source.s3.get_object(Bucket=source.curated, Key=key)["Body"].read()))
            assert [(f.name, hive_type(f.type)) for f in schema] == declared, (definition.name, key)
    count, with_at = _athena(source, database, "SELECT count(*), count_if(email LIKE '%@%') FROM operational_customers")
    assert int(count) == source.conn.execute(f"SELECT count(*) FROM {SCHEMA}.customers").fetchone()[0]
    assert int(with_at) == 0


def _athena(source: Source, database: str, sql: str) -> list:
    from retail_lake.serving.athena import run_query

    workgroup = source.twin.outputs["RetailLake-dev-Serving"]["AthenaWorkGroupName"]
    result = run_query(source.twin.client("athena"), sql, workgroup=workgroup, database=database, timeout=120)
    (row,) = result.rows
    return list(row)
