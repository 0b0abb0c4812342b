"""`retail-lake query "SQL"`: run one statement through Athena and print the rows as a table.

Against a deployed lake (default): the stage's workgroup and analytics database are read from the Serving and
Batch stacks' outputs through CloudFormation, on the account and region the AWS SDK is configured for
(AWS_ENDPOINT_URL for LocalStack). With `--twin`: an embedded twin is started, the Serving stack (and what it
depends on) deployed from the cloud assembly, a synthetic analytics zone written (`retail_lake.serving.sample`)
and the views created, so queries can be tried without an account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from retail_lake.serving.athena import QueryFailed, QueryResult, create_views, run_query

NUMERIC = ("bigint", "integer", "smallint", "tinyint", "double", "real", "decimal")


def result_table(result: QueryResult, *, title: str | None = None, max_rows: int | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for name, kind in result.columns:
        table.add_column(f"{name}\n[dim]{kind}[/]", justify="right" if kind in NUMERIC else "left")
    rows = result.rows if max_rows is None else result.rows[:max_rows]
    for row in rows:
        table.add_row(*["[dim]NULL[/]" if v is None else v for v in row])
    return table


def _outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    from retail_lake.orchestration.batch_day import stack_outputs

    return stack_outputs(cloudformation, stack)


def run_query_command(sql: str, *, stage: str = "dev", twin: bool = False, assembly: Path | None = None,
                      max_rows: int | None = 1000, console: Console | None = None) -> int:
    console = console or Console()
    if twin:
        return _on_twin(sql, stage=stage, assembly=assembly, max_rows=max_rows, console=console)
    import boto3

    cloudformation = boto3.client("cloudformation")
    serving = _outputs(cloudformation, f"RetailLake-{stage}-Serving")
    database = _outputs(cloudformation, f"RetailLake-{stage}-Batch")["AnalyticsDatabaseName"]
    return _run_and_print(boto3.client("athena"), sql, serving["AthenaWorkGroupName"], database, max_rows, console)


def _run_and_print(athena: Any, sql: str, workgroup: str, database: str, max_rows: int | None,
                   console: Console) -> int:
    try:
        result = run_query(athena, sql, workgroup=workgroup, database=database)
    except QueryFailed as failure:
        console.print(f"[bold red]query {failure.state}:[/] {failure.reason}")
        return 1
    if result.columns:
        console.print(result_table(result, max_rows=max_rows))
    shown = len(result.rows) if max_rows is None else min(len(result.rows), max_rows)
    console.print(f"{len(result.rows):,} row(s)" + (f", first {shown:,} shown" if shown < len(result.rows) else "")
                  + f"; {result.bytes_scanned:,} bytes scanned; query id {result.query_id}")
    return 0


def _on_twin(sql: str, *, stage: str, assembly: Path | None, max_rows: int | None, console: Console) -> int:
    from retail_lake.serving.sample import SampleLake
    from retail_lake.twin import Twin

    assembly = assembly or Path(__file__).resolve().parents[2] / "cdk.out"
    if not (assembly / "manifest.json").exists():
        console.print(f"[bold red]no cloud assembly at {assembly}[/]: run `make synth` first")
        return 2
    with Twin() as local:
        local.deploy(assembly, stacks=[f"RetailLake-{stage}-Serving"])
        outputs = local.outputs
        storage = outputs[f"RetailLake-{stage}-Storage"]
        workgroup = outputs[f"RetailLake-{stage}-Serving"]["AthenaWorkGroupName"]
        database = outputs[f"RetailLake-{stage}-Batch"]["AnalyticsDatabaseName"]
        SampleLake.build().write(local.client("s3"), analytics_bucket=storage["AnalyticsBucketName"],
                                 raw_bucket=storage["RawBucketName"])
        create_views(local.client("athena"), workgroup=workgroup, analytics_database=database)
        Console(stderr=True).print(f"[dim]twin: synthetic analytics zone in {database}, workgroup {workgroup}[/]")
        return _run_and_print(local.client("athena"), sql, workgroup, database, max_rows, console)
