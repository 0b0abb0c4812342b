"""Athena on the embedded twin, deployed from the dev cloud assembly: the named queries answer the business
questions with the rows an independent pandas computation over the same data gives; awswrangler and plain boto3
work unchanged; a bad query fails in Athena's shape."""

from __future__ import annotations

import io
import json
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import awswrangler as wr
import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_lake.serving import catalog
from retail_lake.serving.athena import QueryFailed, run_query
from retail_lake.twin import Twin
from tests.integration.serving_lake import SERVING, ServingLake, deploy_serving_lake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def serving(dev_assembly: Path):
    with Twin() as twin:
        yield deploy_serving_lake(twin, dev_assembly)


# ------------------------------------------------------------------------------------------ expectations (pandas)
def _money(value) -> str:
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def _round(value: float, digits: int) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def expected_daily_sales_by_store_and_region(lake) -> list[tuple]:
    sales, stores = lake.frame("daily_sales"), lake.frame("stores")
    totals = sales.groupby(["event_date", "store_id"]).agg(
        units=("units", "sum"), gross=("gross_sales", "sum"), discounts=("discounts", "sum"),
        net=("net_sales", "sum")).reset_index().merge(stores[["store_id", "name", "region"]], on="store_id", how="left")
    rows = [(r.event_date.isoformat(), r.region, r.store_id, r.name, str(r.units), _money(r.gross),
             _money(r.discounts), _money(r.net)) for r in totals.itertuples()]
    rows.sort(key=lambda r: (r[2], r[1]))
    rows.sort(key=lambda r: r[1])
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows


def expected_top_skus(lake) -> list[tuple]:
    sales, products = lake.frame("daily_sales"), lake.frame("products")
    totals = sales.groupby("sku").agg(units=("units", "sum"), net=("net_sales", "sum")).reset_index()
    totals = totals.merge(products[["sku", "name", "category"]], on="sku", how="left")
    rows = sorted(((r.sku, r.name, r.category, str(r.units), r.net) for r in totals.itertuples()),
                  key=lambda r: (-r[4], r[0]))[:20]
    return [(*r[:4], _money(r[4])) for r in rows]


def expected_stockouts_and_days_of_cover(lake) -> list[tuple]:
    inventory = lake.frame("inventory_position")
    latest = inventory[inventory["as_of_date"] == inventory["as_of_date"].max()]
    rows = []
    for r in latest.itertuples():
        low = r.days_of_cover is not None and not pd.isna(r.days_of_cover) and r.days_of_cover < 7
        if r.stockout is True or low:
            cover = None if r.days_of_cover is None or pd.isna(r.days_of_cover) else r.days_of_cover
            rows.append((r.as_of_date.isoformat(), r.store_id, r.sku, None if pd.isna(r.on_hand) else str(int(r.on_hand)),
                         str(r.units_sold_28d), None if cover is None else _money(cover),
                         "true" if r.stockout else "false", cover))
    rows.sort(key=lambda r: (r[6] != "true", r[7] is not None, r[7] if r[7] is not None else 0, r[1], r[2]))
    return [r[:7] for r in rows]


def expected_customer_segment_mix(lake) -> list[tuple]:
    customers = lake.frame("customer_360")
    latest = customers[customers["as_of_date"] == customers["as_of_date"].max()]
    total = len(latest)
    rows = []
    for segment, group in latest.groupby("segment"):
        monetary = sum(group["monetary"], Decimal(0))
        rows.append((segment, len(group), _round(len(group) / total, 4), _money(monetary),
                     _round(float(sum(float(m) for m in group["monetary"]) / len(group)), 2)))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows


def expected_funnel_conversion_by_channel(lake) -> list[tuple]:
    funnel = lake.frame("conversion_funnel")
    rows = []
    for channel, g in sorted(funnel.groupby("channel")):
        sessions = int(g["sessions"].sum())
        steps = [int(g[c].sum()) for c in ("sessions_with_add_to_cart", "sessions_with_checkout",
                                            "sessions_with_purchase")]
        rows.append((channel, sessions, *steps, *[_round(s / sessions, 4) for s in steps],
                     _money(sum(g["revenue"], Decimal(0)))))
    return rows


def expected_data_quality_failures_by_dataset(lake) -> list[tuple]:
    results = lake.frame("quality_results")
    failed = results[results["status"] == "failed"]
    rows = []
    for (run_date, dataset), g in failed.groupby(["run_date", "dataset"]):
        rows.append((run_date, dataset, str(len(g)), str(int((g["level"] == "error").sum())),
                     str(int((g["level"] == "warning").sum())), str(int(g["failing_rows"].fillna(0).sum()))))
    rows.sort(key=lambda r: r[1])
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows


EXPECTED = {
    "daily_sales_by_store_and_region": expected_daily_sales_by_store_and_region,
    "top_skus": expected_top_skus,
    "stockouts_and_days_of_cover": expected_stockouts_and_days_of_cover,
    "customer_segment_mix": expected_customer_segment_mix,
    "funnel_conversion_by_channel": expected_funnel_conversion_by_channel,
    "data_quality_failures_by_dataset": expected_data_quality_failures_by_dataset,
}


def _typed(name: str, rows: list[list[str | None]]) -> list[tuple]:
    """Athena's strings, with counts and ratios parsed where the expectation holds numbers."""
    if name == "customer_segment_mix":
        return [(r[0], int(r[1]), float(r[2]), r[3], float(r[4])) for r in rows]
    if name == "funnel_conversion_by_channel":
        return [(r[0], *map(int, r[1:5]), *map(float, r[5:8]), r[8]) for r in rows]
    return [tuple(r) for r in rows]


def _deployed_named_queries(serving: ServingLake) -> dict[str, str]:
    athena = serving.twin.client("athena")
    outputs = serving.twin.outputs[SERVING]
    found = {}
    for name in catalog.named_queries():
        query_id = outputs[f"NamedQuery{''.join(p.title() for p in name.split('_'))}Id"]
        found[name] = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
    return found


# ------------------------------------------------------------------------------------------ tests
def test_every_business_question_has_a_deployed_named_query_with_the_sql_of_its_file(serving: ServingLake) -> None:
    deployed = _deployed_named_queries(serving)
    assert set(deployed) == set(EXPECTED)
    for name, query in deployed.items():
        assert query["QueryString"] == catalog.named_queries()[name].render(analytics=serving.database,
                                                                            quality=serving.quality_database)
        assert query["WorkGroup"] == serving.workgroup
        assert query["Database"] == serving.database


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_query_returns_the_rows_of_an_independent_computation(serving: ServingLake, name: str) -> None:
    sql = _deployed_named_queries(serving)[name]["QueryString"]
    result = run_query(serving.twin.client("athena"), sql, workgroup=serving.workgroup, database=serving.database)
    expected = EXPECTED[name](serving.lake)
    assert expected, f"the sample lake gives {name} no rows: the comparison would prove nothing"
    assert _typed(name, result.rows) == expected
    assert result.bytes_scanned > 0


def test_result_types_are_athenas(serving: ServingLake) -> None:
    result = run_query(serving.twin.client("athena"), catalog.named_queries()["top_skus"].render(
        analytics=serving.database), workgroup=serving.workgroup, database=serving.database)
    assert result.columns == [("sku", "varchar"), ("product_name", "varchar"), ("category", "varchar"),
                              ("units", "bigint"), ("net_sales", "decimal")]


def test_views_are_glue_virtual_views_with_their_columns(serving: ServingLake) -> None:
    glue = serving.twin.client("glue")
    for name in catalog.views():
        table = glue.get_table(DatabaseName=serving.database, Name=name)["Table"]
        assert table["TableType"] == "VIRTUAL_VIEW"
        assert table["ViewOriginalText"].startswith("/* Presto View: ")
    columns = glue.get_table(DatabaseName=serving.database, Name="v_inventory_latest")["Table"]["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in columns["Columns"]] == [
        ("as_of_date", "date"), ("store_id", "string"), ("sku", "string"), ("on_hand", "bigint"),
        ("units_sold_28d", "bigint"), ("days_of_cover", "decimal(12,2)"), ("stockout", "boolean")]


@pytest.mark.parametrize("ctas_approach", [False, True])
def test_awswrangler_read_sql_query_round_trip(serving: ServingLake, ctas_approach: bool) -> None:
    df = wr.athena.read_sql_query(
        "SELECT store_id, SUM(units) AS units, SUM(net_sales) AS net_sales, MAX(event_date) AS last_day "
        "FROM daily_sales GROUP BY store_id ORDER BY store_id",
        database=serving.database, workgroup=serving.workgroup, ctas_approach=ctas_approach,
    )
    sales = serving.lake.frame("daily_sales")
    expected = sales.groupby("store_id").agg(units=("units", "sum"), net_sales=("net_sales", "sum"),
                                             last_day=("event_date", "max")).reset_index()
    assert list(df["store_id"]) == list(expected["store_id"])
    assert [int(u) for u in df["units"]] == [int(u) for u in expected["units"]]
    assert [Decimal(str(v)) for v in df["net_sales"]] == list(expected["net_sales"])
    assert [pd.Timestamp(v).date() for v in df["last_day"]] == list(expected["last_day"])
    if ctas_approach:  # the temporary CTAS table was dropped again by awswrangler
        tables = serving.twin.client("glue").get_tables(DatabaseName=serving.database)["TableList"]
        assert not [t["Name"] for t in tables if t["Name"].startswith("temp_table_")]


def test_plain_boto3_pages_results_with_a_header_first(serving: ServingLake) -> None:
    athena = boto3.client("athena")  # the twin's endpoint comes from AWS_ENDPOINT_URL, as for any AWS code
    query_id = athena.start_query_execution(
        QueryString="SELECT store_id, sku, units FROM daily_sales ORDER BY event_date, store_id, sku",
        WorkGroup=serving.workgroup, QueryExecutionContext={"Database": serving.database})["QueryExecutionId"]
    serving.twin.executor("athena").wait(query_id)
    pages = list(athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_id, PaginationConfig={"PageSize": 250}))
    rows = [row for page in pages for row in page["ResultSet"]["Rows"]]
    assert len(pages) > 1
    assert [c["VarCharValue"] for c in rows[0]["Data"]] == ["store_id", "sku", "units"]
    sales = serving.lake.frame("daily_sales").sort_values(["event_date", "store_id", "sku"])
    assert len(rows) - 1 == len(sales)
    assert [int(r["Data"][2]["VarCharValue"]) for r in rows[1:]] == [int(u) for u in sales["units"]]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["StatementType"] == "DML"
    assert execution["EngineVersion"]["EffectiveEngineVersion"] == "Athena engine version 3"
    assert execution["Statistics"]["DataScannedInBytes"] > 0


def test_results_go_to_the_workgroup_location_encrypted_with_the_lake_key(serving: ServingLake) -> None:
    athena, s3 = serving.twin.client("athena"), serving.twin.client("s3")
    configuration = athena.get_work_group(WorkGroup=serving.workgroup)["WorkGroup"]["Configuration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    key_arn = configuration["ResultConfiguration"]["EncryptionConfiguration"]["KmsKey"]
    query_id = athena.start_query_execution(
        QueryString="SELECT 'a,\"b' AS text, CAST(NULL AS bigint) AS nothing, 2.5e0 AS ratio",
        WorkGroup=serving.workgroup,
        # a client's own location is overridden by the enforced workgroup configuration, as on Athena
        ResultConfiguration={"OutputLocation": f"s3://{serving.raw_bucket}/elsewhere/"})["QueryExecutionId"]
    serving.twin.executor("athena").wait(query_id)
    location = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["ResultConfiguration"]
    assert location["OutputLocation"] == f"s3://{serving.results_bucket}/results/{query_id}.csv"
    head = s3.head_object(Bucket=serving.results_bucket, Key=f"results/{query_id}.csv")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith(key_arn.split("/")[-1])
    body = s3.get_object(Bucket=serving.results_bucket, Key=f"results/{query_id}.csv")["Body"].read().decode()
    assert body == '"text","nothing","ratio"\n"a,""b",,"2.5"\n'
    metadata = json.loads(s3.get_object(Bucket=serving.results_bucket,
                                        Key=f"results/{query_id}.csv.metadata")["Body"].read())
    assert [c["Type"] for c in metadata["ColumnInfo"]] == ["varchar", "bigint", "double"]


@pytest.mark.parametrize(("sql", "code"), [
    ("SELEC store_id FROM daily_sales", "SYNTAX_ERROR"),
    ("SELECT store_id FROM daily_sales WHERE", "SYNTAX_ERROR"),
    ("SELECT * FROM no_such_table", "TABLE_NOT_FOUND"),
    ("SELECT no_such_column FROM daily_sales", "COLUMN_NOT_FOUND"),
    ("INSERT INTO daily_sales SELECT * FROM daily_sales", "NOT_SUPPORTED"),
])
def test_a_bad_query_fails_in_athenas_error_shape(serving: ServingLake, sql: str, code: str) -> None:
    athena = serving.twin.client("athena")
    query_id = athena.start_query_execution(QueryString=sql, WorkGroup=serving.workgroup,
                                            QueryExecutionContext={"Database": serving.database})["QueryExecutionId"]
    serving.twin.executor("athena").wait(query_id)
    status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(f"{code}: ")
    error = status["AthenaError"]
    assert error["ErrorCategory"] == 2 and error["Retryable"] is False
    assert isinstance(error["ErrorType"], int) and error["ErrorMessage"] == status["StateChangeReason"]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="Final query state: FAILED"):
        athena.get_query_results(QueryExecutionId=query_id)
    with pytest.raises(wr.exceptions.QueryFailed, match=code):
        wr.athena.read_sql_query(sql, database=serving.database, workgroup=serving.workgroup, ctas_approach=False)


def test_a_query_over_the_bytes_scanned_cutoff_is_cancelled(serving: ServingLake) -> None:
    athena, glue, s3 = (serving.twin.client(name) for name in ("athena", "glue", "s3"))
    cutoff = 10_000_000  # the smallest cutoff a workgroup accepts
    athena.create_work_group(Name="small-cutoff", Configuration={
        "ResultConfiguration": {"OutputLocation": f"s3://{serving.results_bucket}/small-cutoff/"},
        "EnforceWorkGroupConfiguration": True, "BytesScannedCutoffPerQuery": cutoff})
    buffer = io.BytesIO()  # one incompressible value: a Parquet file just over the cutoff
    pq.write_table(pa.table({"blob": pa.array([random.Random(5).randbytes(cutoff + 500_000)], pa.binary())}), buffer)
    s3.put_object(Bucket=serving.analytics_bucket, Key="scratch_blobs/part-0.parquet", Body=buffer.getvalue())
    glue.create_table(DatabaseName=serving.database, TableInput={
        "Name": "scratch_blobs", "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {"Columns": [{"Name": "blob", "Type": "binary"}],
                              "Location": f"s3://{serving.analytics_bucket}/scratch_blobs/",
                              "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                              "SerdeInfo": {"SerializationLibrary":
                                            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
    executor = serving.twin.executor("athena")
    context = {"Database": serving.database}
    small = athena.start_query_execution(QueryString="SELECT COUNT(*) AS n FROM conversion_funnel",
                                         WorkGroup="small-cutoff", QueryExecutionContext=context)["QueryExecutionId"]
    assert executor.wait(small).state == "SUCCEEDED"
    big = athena.start_query_execution(QueryString="SELECT COUNT(*) AS n FROM scratch_blobs",
                                       WorkGroup="small-cutoff", QueryExecutionContext=context)["QueryExecutionId"]
    executor.wait(big)
    execution = athena.get_query_execution(QueryExecutionId=big)["QueryExecution"]
    assert execution["Status"]["State"] == "CANCELLED"
    assert "Bytes scanned limit was exceeded" in execution["Status"]["StateChangeReason"]
    assert execution["Statistics"]["DataScannedInBytes"] > cutoff
    glue.delete_table(DatabaseName=serving.database, Name="scratch_blobs")


def test_a_query_without_any_output_location_is_refused_like_athena(serving: ServingLake) -> None:
    athena = serving.twin.client("athena")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="No output location provided"):
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup="primary")


def test_run_query_raises_query_failed_with_the_reason(serving: ServingLake) -> None:
    with pytest.raises(QueryFailed) as failure:
        run_query(serving.twin.client("athena"), "SELECT * FROM nowhere", workgroup=serving.workgroup,
                  database=serving.database)
    assert failure.value.state == "FAILED"
    assert "TABLE_NOT_FOUND" in failure.value.reason and "nowhere" in failure.value.reason


# ------------------------------------------------------------------------------------------ for a person
def test_query_command_prints_the_rows_as_a_table(serving: ServingLake) -> None:
    from rich.console import Console

    from retail_lake.serving.console import run_query_command

    console = Console(record=True, width=200)
    code = run_query_command("SELECT segment, COUNT(*) AS customers FROM v_customer_segments_latest "
                             "GROUP BY segment ORDER BY segment", stage="dev", console=console)
    text = console.export_text()
    assert code == 0
    customers = serving.lake.frame("customer_360").groupby("segment").size()
    for segment, count in customers.items():
        assert any(segment in line and str(count) in line for line in text.splitlines()), (segment, text)
    assert f"{len(customers)} row(s)" in text
    failing = Console(record=True, width=200)
    assert run_query_command("SELECT * FROM nowhere", stage="dev", console=failing) == 1
    assert "TABLE_NOT_FOUND" in failing.export_text()


def test_html_report_charts_the_gold_tables_and_summarizes_quality(serving: ServingLake, tmp_path: Path) -> None:
    from retail_lake.serving.report import write_report

    report = write_report(serving.twin.client("athena"), workgroup=serving.workgroup,
                          analytics_database=serving.database, quality_database=serving.quality_database,
                          path=tmp_path / "report.html")
    document = report.path.read_text()
    assert report.problems == []
    assert report.sections == ["Daily sales by store and region", "Top SKUs by net sales",
                               "Stockouts by store (latest snapshot)", "Customer segment mix",
                               "Funnel conversion by channel", "Data quality: failed rules by dataset"]
    assert document.count("<img alt='chart' src='data:image/png;base64,") == 5
    assert report.quality_rows == len(expected_data_quality_failures_by_dataset(serving.lake)) > 0
    for run_date, dataset, failed, *_ in expected_data_quality_failures_by_dataset(serving.lake):
        assert f"<td>{run_date}</td><td>{dataset}</td><td>{failed}</td>" in document


# ------------------------------------------------------------------------------------------ notebooks
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_example_notebooks() -> None:
    assert [n.name for n in NOTEBOOKS] == ["customers_and_funnel.ipynb", "sales_and_stockouts.ipynb"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_top_to_bottom_against_the_twin(serving: ServingLake, notebook: Path,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RETAIL_LAKE_WORKGROUP", serving.workgroup)
    monkeypatch.setenv("RETAIL_LAKE_ANALYTICS_DATABASE", serving.database)
    monkeypatch.setenv("RETAIL_LAKE_ANALYTICS_BUCKET", serving.analytics_bucket)
    document = nbformat.read(notebook, as_version=4)
    NotebookClient(document, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    code_cells = [cell for cell in document.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.execution_count for cell in code_cells)
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    images = [o for cell in code_cells for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # every chart cell drew its chart


def test_demo_step_creates_the_views_and_writes_the_report(serving: ServingLake, tmp_path: Path) -> None:
    from rich.console import Console

    from retail_lake.serving.demo_step import serving_report

    console = Console(record=True, width=200)
    summary = serving_report(serving.twin, "dev", tmp_path / "demo" / "report.html", console)
    assert summary["report"] == str(tmp_path / "demo" / "report.html")
    assert summary["report_sections"] == 6
    assert summary["quality_failures"] == len(expected_data_quality_failures_by_dataset(serving.lake))
    assert (tmp_path / "demo" / "report.html").read_text().startswith("<!doctype html>")
    assert "views v_customer_segments_latest, v_daily_sales_by_store, v_inventory_latest" in console.export_text()
