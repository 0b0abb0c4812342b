"""`retail-lake demo`: the streaming path end to end on the embedded local twin.

generate (or --input) -> KPL producer -> Kinesis -> stream-transform Lambda -> raw + quarantine,
then a reconciliation: every produced event is in exactly one place, or the command fails.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from retail_lake.reconcile import Reconciliation, count_lake

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ASSEMBLY = REPO_ROOT / "cdk.out"
STAGE = "dev"


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOptions:
    events: int = 200_000
    seed: int = 42
    input: Path | None = None
    json: bool = False
    export: Path | None = None
    assembly: Path = DEFAULT_ASSEMBLY
    synth: bool = False
    stage: str = STAGE
    batch: bool = True
    database: bool = True  # the operational store: PostgreSQL -> DMS -> CDC landing -> CDC merge -> curated
    emr: bool = True  # after the Glue jobs, the EMR Serverless steps (segments, affinity, forecast)
    report: Path = REPO_ROOT / "demo-output" / "report.html"  # the HTML report after the batch layer


def _assembly_problem(options: DemoOptions) -> str | None:
    """Why the cloud assembly cannot be deployed as it is, or None."""
    from retail_lake.twin.assembly import stale_lambda_packages

    manifest = options.assembly / "manifest.json"
    if not manifest.exists():
        return f"{options.assembly} holds no cloud assembly"
    artifacts = json.loads(manifest.read_text()).get("artifacts", {})
    wanted = f"RetailLake-{options.stage}-Storage"
    if wanted not in artifacts:
        return f"{options.assembly} was synthesized for another stage (no stack {wanted})"
    stale = stale_lambda_packages(options.assembly)
    if stale:
        return "its Lambda code is older than the working tree (" + "; ".join(stale) + ")"
    return None


def ensure_assembly(options: DemoOptions, console: Console) -> Path:
    """The cloud assembly the twin deploys: `cdk.out` from `cdk synth` (what `make demo` runs first), or
    synthesized here from the same app when it is missing, for another stage, older than the code, or
    `--synth` is given."""
    problem = "--synth was given" if options.synth else _assembly_problem(options)
    if problem is None:
        return options.assembly
    console.print(f"[bold]synth[/] the CDK app (stage {options.stage}) into {options.assembly}: {problem} ...")
    started = time.perf_counter()
    if str(REPO_ROOT) not in sys.path:  # the CDK app lives beside the package, in the repository
        sys.path.insert(0, str(REPO_ROOT))
    from stacks.app_builder import build_app

    build_app(options.stage, str(options.assembly)).synth()
    console.print(f"  synthesized in {time.perf_counter() - started:.1f}s")
    return options.assembly


def _input_lines(path: Path) -> tuple[list[bytes], int]:
    """One event a line, sent as-is (even when it is not valid JSON); only the line break is removed.
    Empty lines separate nothing and carry no event: they are counted and skipped."""
    if not path.exists():
        raise DemoError(f"--input {path}: no such file")
    lines, empty = [], 0
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                lines.append(line)
            else:
                empty += 1
    return lines, empty


def _outputs(twin, stage: str) -> tuple[dict[str, str], dict[str, str]]:
    prefix = f"RetailLake-{stage}-"
    outputs = twin.outputs
    try:
        return outputs[f"{prefix}Storage"], outputs[f"{prefix}Ingestion"]
    except KeyError as missing:
        raise DemoError(
            f"stack {missing} is not in the deployed assembly (stacks: {sorted(outputs)}); synthesize stage "
            f"{stage} with `make synth STAGE={stage}` or run the demo with --synth"
        ) from None


def run_demo(options: DemoOptions, console: Console | None = None) -> dict[str, Any]:
    from retail_lake.ingestion.producer import KinesisProducer
    from retail_lake.twin import Twin

    console = console or Console()
    started = time.perf_counter()
    expected = None
    generator_config = None
    empty_lines = 0
    if options.input is not None:
        lines, empty_lines = _input_lines(options.input)
        skipped = f" ({empty_lines:,} empty lines skipped)" if empty_lines else ""
        console.print(f"[bold]input[/] {len(lines):,} lines from {options.input}{skipped}")
    else:
        from retail_lake.generator import GeneratorConfig, generate

        t0 = time.perf_counter()
        generator_config = GeneratorConfig(events=options.events, seed=options.seed)
        stream = generate(generator_config)
        lines, report = list(stream), stream.report
        expected = report.expected
        console.print(
            f"[bold]generate[/] {len(lines):,} events (seed {options.seed}) in {time.perf_counter() - t0:.1f}s; "
            f"defects injected: " + ", ".join(f"{k} {v:,}" for k, v in report.defects.items() if v)
        )
    assembly = ensure_assembly(options, console)

    with Twin() as twin:
        t0 = time.perf_counter()
        deployment = twin.deploy(assembly)
        console.print(f"[bold]deploy[/] {assembly} to the local twin at {twin.endpoint_url} "
                      f"in {time.perf_counter() - t0:.1f}s")
        for line in deployment.summary().splitlines():
            console.print(f"  {line}")
        storage, ingestion = _outputs(twin, options.stage)
        producer = KinesisProducer(twin.client("kinesis"), ingestion["StreamName"])
        with _progress(console) as progress:
            produce_task = progress.add_task("produce -> Kinesis", total=len(lines))
            produced = producer.send(iter(lines), progress=lambda n: progress.advance(produce_task, n))
            progress.update(produce_task, completed=len(lines))
            lambda_task = progress.add_task("Kinesis -> Lambda -> S3", total=produced.kinesis_records)
            if twin.is_embedded:
                drained = twin.kinesis_poller.drain(progress=lambda n: progress.advance(lambda_task, n))
            else:  # the endpoint (LocalStack) runs the event source mapping itself: wait for its results
                drained = twin.settle(
                    lambda: _landed(twin, storage) >= produced.events, timeout=600, interval=5
                ) or "delivered by the endpoint's own event source mapping"
            progress.update(lambda_task, completed=produced.kinesis_records)
        console.print(
            f"[bold]produce[/] {produced.events:,} events in {produced.kinesis_records:,} aggregated Kinesis records "
            f"({produced.events_per_s:,.0f} events/s, {produced.put_records_calls} PutRecords calls, "
            f"{produced.retried_entries} entries retried)"
        )
        console.print(f"[bold]stream-transform[/] {_describe_drain(drained)}")
        lake = count_lake(
            twin.client("s3"),
            raw_bucket=storage["RawBucketName"],
            quarantine_bucket=storage["QuarantineBucketName"],
            sqs=twin.client("sqs"),
            on_failure_queue_url=ingestion.get("OnFailureQueueUrl"),
        )
        reconciliation = Reconciliation(produced=produced.events, lake=lake, expected=expected).check()
        batch = None
        if options.batch and reconciliation.ok and generator_config is not None:
            batch = _run_batch(twin, options, generator_config, console, raw_rows=lake.raw_total)
            if batch["duplicates_dropped"] != lake.duplicates:
                reconciliation.problems.append(
                    f"curated dropped {batch['duplicates_dropped']} rows as duplicates, but raw holds "
                    f"{lake.duplicates} duplicates"
                )
        if batch is not None:
            from retail_lake.serving.demo_step import serving_report

            batch.update(serving_report(twin, options.stage, options.report, console))
        if options.batch and options.database:
            from retail_lake.sources.demo_step import run_database_source

            database = run_database_source(twin, options.stage, console, seed=options.seed)
            reconciliation.problems.extend(database["database"]["problems"])
            batch = {**(batch or {}), **database}
        if options.export is not None:
            exported = export_lake(twin.client("s3"), storage, options.export)
            console.print(f"[bold]export[/] {exported:,} objects to {options.export}")
    summary = reconciliation.summary()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if options.input is not None:
        summary["input_empty_lines_skipped"] = empty_lines
    summary["producer"] = produced.as_dict()
    if batch is not None:
        summary.update(batch)
    if expected is not None:
        summary["expected"] = expected
    _print_reconciliation(console, reconciliation, expected)
    if summary.get("report"):
        console.print(f"[bold]report[/] {summary['report']}")
    return summary


def _run_batch(twin, options: DemoOptions, generator_config, console: Console, *, raw_rows: int) -> dict[str, Any]:
    """raw -> curated -> analytics on the twin's Glue jobs: the generated history is replayed in one backfill
    run per dataset (raw is partitioned by arrival, today, while the events are days old), as of the last
    generated day. Prints the head of each gold table; returns the counts for the summary."""
    import tempfile

    from retail_lake.orchestration.batch_day import (
        ANALYTICS_TABLES,
        QualityGateError,
        lake_summary,
        load_reference_data,
        quality_gate_summary,
        quality_report,
        read_table,
        run_batch_day,
    )

    outputs = twin.outputs
    storage = outputs[f"RetailLake-{options.stage}-Storage"]
    batch_outputs = outputs.get(f"RetailLake-{options.stage}-Batch")
    if batch_outputs is None:
        raise DemoError(f"the assembly has no RetailLake-{options.stage}-Batch stack: run `make synth` or --synth")
    s3 = twin.client("s3")
    with tempfile.TemporaryDirectory() as scratch:
        load_reference_data(s3, storage["RawBucketName"], generator_config, Path(scratch))
    # the last generated day is over in every time zone a day later (clickstream is dated in UTC)
    run_date = generator_config.end_date + dt.timedelta(days=1)
    t0 = time.perf_counter()
    orchestration = outputs.get(f"RetailLake-{options.stage}-Orchestration")
    try:
        if orchestration is not None:  # the whole day (Glue, quality gate, EMR, catalog, views) by the state machine
            job_runs = _run_state_machine(twin, orchestration, run_date, generator_config, options, console)
        else:
            job_runs = len(run_batch_day(twin.client("glue"), batch_outputs, run_date, backfill=True,
                                         progress=lambda what: console.print(f"[bold]glue[/] {what} ...")).runs)
    except QualityGateError as error:
        report = quality_report(s3, storage, run_date.isoformat(), error.run.run_id)
        if report:
            console.print(report, markup=False, highlight=False)
        raise DemoError(f"the data quality gate stopped the batch before analytics: {error}") from None
    counts = lake_summary(s3, storage)
    console.print(f"[bold]batch[/] {job_runs} Glue job runs in {time.perf_counter() - t0:.1f}s; curated "
                  + ", ".join(f"{k} {v:,}" for k, v in counts["curated"].items()))
    for name in ANALYTICS_TABLES:
        _print_head(console, name, read_table(s3, storage["AnalyticsBucketName"], f"{name}/"))
    quality_quarantined = sum(counts["quality_quarantined"].values())
    duplicates_dropped = raw_rows - sum(counts["curated"].values()) - quality_quarantined
    console.print(f"[bold]curated[/] {sum(counts['curated'].values()):,} events = {raw_rows:,} raw rows - "
                  f"{duplicates_dropped:,} duplicates dropped - {quality_quarantined:,} quarantined by quality rules "
                  f"({', '.join(f'{k} {v:,}' for k, v in counts['quality_quarantined'].items())})")
    summary = {"curated": counts["curated"], "analytics": counts["analytics"],
               "quality_quarantined": counts["quality_quarantined"],
               "duplicates_dropped": duplicates_dropped, "batch_run_date": run_date.isoformat()}
    analytics_outputs = outputs.get(f"RetailLake-{options.stage}-Analytics")
    gate_dates = [run_date.isoformat()]
    if options.emr and analytics_outputs is not None:
        summary.update(_run_emr_steps(twin, storage, analytics_outputs, batch_outputs, run_date, generator_config,
                                      console, execute=orchestration is None))
        gate_dates += demo_step_dates(generator_config, run_date).values()  # where the steps' gates wrote
    summary["quality_gates"] = quality_gate_summary(s3, storage, gate_dates)
    _print_quality_gates(console, summary["quality_gates"])
    return summary


def _print_quality_gates(console: Console, gates: list[dict[str, Any]]) -> None:
    """One line per gated dataset (the checks are its rules on each partition judged), then one line per failed
    rule: on which partitions, and what was found on its worst one. A failed warning only reports; a failed error
    would have stopped the day."""
    engines = ", ".join(sorted({gate["engine"] for gate in gates})) or "none"
    table = Table(title=f"Quality gates (engine: {engines}; failed errors stop the day, failed warnings report)")
    table.add_column("dataset", no_wrap=True)
    for column in ("rules", "checks", "passed", "failed\nerrors", "failed\nwarnings", "rows\ncaught"):
        table.add_column(column, justify="right")
    for gate in gates:
        table.add_row(gate["dataset"], str(gate["rules"]), f"{gate['checks']:,}", f"{gate['passed']:,}",
                      str(gate["failed_errors"]), str(gate["failed_warnings"]), f"{gate['failing_rows']:,}")
    console.print(table)
    for gate in gates:
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for check in gate["failed"]:
            by_rule.setdefault(check["rule_id"], []).append(check)
        for rule_id, checks in by_rule.items():  # one line per rule: on how many partitions, and its worst one
            worst = max(checks, key=lambda c: (c["failing_rows"] or 0, c["data_partition"]))
            rows = sum(c["failing_rows"] or 0 for c in checks)
            found = f"found {worst['observed_value']}, expected {worst['threshold']}"
            if len(checks) == 1:
                line = f"{worst['data_partition']}: {found}" + (f", {rows:,} rows" if rows else "")
            else:
                line = (f"{len(checks)} partitions ({checks[0]['data_partition']} .. {checks[-1]['data_partition']})"
                        + (f", {rows:,} rows" if rows else "")
                        + f"; {'most on' if rows else 'e.g.'} {worst['data_partition']}: {found}")
            console.print(f"[bold]quality[/] {worst['level']} {rule_id} failed on {line}", highlight=False)


def _run_state_machine(twin, orchestration: dict[str, str], run_date: dt.date, generator_config,
                       options: DemoOptions, console: Console) -> int:
    """Run the day through the deployed daily pipeline (replaying the generated history), state by state; returns
    the number of Glue job runs."""
    from rich.markup import escape

    from retail_lake.orchestration.pipeline_runner import run_and_report

    execution_input = {"backfill": True, "poll_seconds": 1, "emr": options.emr,
                       "emr_arguments": demo_step_arguments(generator_config)}
    run = run_and_report(twin.client("stepfunctions"), orchestration["StateMachineArn"], run_date.isoformat(),
                         execution_input=execution_input, poll_s=0.5,
                         out=lambda line: console.print(f"[bold]sfn[/] {escape(line)}", highlight=False))
    if run.status != "SUCCEEDED":
        raise DemoError(f"the daily pipeline {run.name} ended {run.status}: {run.cause}")
    summary = (run.output or {}).get("summary", {})
    return len(summary.get("curated_jobs", {})) + sum(1 for key in ("quality_job", "analytics_job") if key in summary)


def demo_step_arguments(generator_config) -> dict[str, dict[str, Any]]:
    """The EMR steps' arguments for the demo's generated history (a week by default; the steps' defaults assume
    months): affinity over every generated day with a support floor that a large catalogue's pairs can reach, and
    the forecast as of the last generated day (the batch date after it holds only the first hours of a day in
    stores east of UTC) with a one-day season, since a weekly season needs two weeks of history to be backtested."""
    return {
        "product_affinity": {"--window_days": generator_config.days + 1, "--min_support": 0.0005,
                             "--min_confidence": 0.05},
        "demand_forecast": {"--run_date": generator_config.end_date.isoformat(), "--season": 1,
                            "--backtest_days": 2, "--horizon_days": 7, "--history_days": generator_config.days},
    }


def demo_step_dates(generator_config, run_date: dt.date) -> dict[str, str]:
    """The as-of date each EMR step runs for in the demo: its `--run_date` argument, else the batch date."""
    from retail_lake.orchestration.analytics_steps import STEP_TABLES

    arguments = demo_step_arguments(generator_config)
    return {step: arguments.get(step, {}).get("--run_date", run_date.isoformat()) for step in STEP_TABLES}


def _run_emr_steps(twin, storage: dict[str, str], analytics_outputs: dict[str, str], batch_outputs: dict[str, str],
                   run_date: dt.date, generator_config, console: Console, *, execute: bool = True) -> dict[str, Any]:
    """The EMR Serverless steps on the twin (StartJobRun through the API, run on local Spark): print the head of
    each table they write and the forecast's backtest error; return the counts for the summary."""
    from retail_lake.orchestration.analytics_steps import (
        STEP_TABLES,
        AnalyticsStepError,
        forecast_backtest,
        run_analytics_steps,
    )
    from retail_lake.orchestration.batch_day import read_table

    arguments = demo_step_arguments(generator_config)
    t0 = time.perf_counter()
    states = "run by the daily pipeline"
    try:
        if execute:  # otherwise the state machine ran them
            result = run_analytics_steps(twin.client("emr-serverless"), analytics_outputs, storage, batch_outputs,
                                         run_date, step_arguments=arguments, poll_s=0.2,
                                         progress=lambda what: console.print(f"[bold]emr-serverless[/] {what} ..."))
            states = ", ".join(f"{step} {run.state}" for step, run in result.runs.items())
    except AnalyticsStepError as error:
        raise DemoError(str(error)) from None
    seconds = time.perf_counter() - t0
    s3, bucket = twin.client("s3"), storage["AnalyticsBucketName"]
    dates = demo_step_dates(generator_config, run_date)
    counts: dict[str, int] = {}
    for step, tables in STEP_TABLES.items():
        for name in tables:
            table = read_table(s3, bucket, f"{name}/as_of_date={dates[step]}/")
            counts[name] = 0 if table is None else table.num_rows
            _print_head(console, name, table)
    backtest = forecast_backtest(s3, bucket, dates["demand_forecast"])
    took = f" in {seconds:.1f}s" if execute else ""  # otherwise the pipeline's AnalyticsEmrSteps line has the time
    console.print(f"[bold]emr[/] {len(STEP_TABLES)} EMR Serverless job runs{took} ({states}); "
                  + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    if backtest is not None:
        wape = "n/a" if backtest["wape"] is None else f"{backtest['wape']:.1%}"
        mae = "n/a" if backtest["mae"] is None else f"{backtest['mae']:.3f}"
        console.print(f"[bold]forecast backtest[/] {backtest['method']} over {backtest['backtest_start']} .. "
                      f"{backtest['backtest_end']}: {backtest['points']:,} store x SKU x days of {backtest['series']:,} "
                      f"series, MAE {mae} units, WAPE {wape}")
    return {"emr": counts, "emr_seconds": round(seconds, 2) if execute else None, "forecast_backtest": backtest}


def _print_head(console: Console, name: str, table) -> None:
    """The first rows of an Arrow table (at most 8 columns), titled with its row count."""
    if table is None:
        return
    head = Table(title=f"{name} ({table.num_rows:,} rows)", show_lines=False)
    columns = table.column_names[:8]
    for column in columns:
        head.add_column(column)
    for row in table.slice(0, 5).to_pylist():
        head.add_row(*(_cell(row[column]) for column in columns))
    console.print(head)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def _landed(twin, storage: dict[str, str]) -> int:
    lake = count_lake(twin.client("s3"), raw_bucket=storage["RawBucketName"],
                      quarantine_bucket=storage["QuarantineBucketName"])
    return lake.raw_total + lake.quarantined_total


def _describe_drain(drained: Any) -> str:
    if hasattr(drained, "as_dict"):
        drained = drained.as_dict()
    if isinstance(drained, dict):
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in drained.items() if not isinstance(v, (dict, list)))
    return str(drained)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _print_reconciliation(console: Console, rec: Reconciliation, expected: dict[str, Any] | None) -> None:
    table = Table(title="Reconciliation: every produced event is in exactly one place", show_lines=False)
    table.add_column("where")
    table.add_column("events", justify="right")
    if expected is not None:
        table.add_column("expected", justify="right")

    def row(label: str, value: int, want: Any = None, style: str | None = None) -> None:
        cells = [label, f"{value:,}"]
        if expected is not None:
            cells.append("" if want is None else f"{want:,}")
        table.add_row(*cells, style=style)

    row("produced", rec.produced, None, "bold")
    row("raw zone (rows)", rec.lake.raw_total, expected.get("raw") if expected else None, "green")
    for dataset, count in sorted(rec.lake.raw.items()):
        row(f"  {dataset}", count)
    expected_q = (expected or {}).get("quarantined") or {}
    row("quarantine", rec.lake.quarantined_total, sum(expected_q.values()) if expected else None, "yellow")
    for reason in sorted(set(rec.lake.quarantined) | {k for k, v in expected_q.items() if v}):
        row(f"  {reason}", rec.lake.quarantined.get(reason, 0), expected_q.get(reason, 0) if expected else None)
    row("raw + quarantine", rec.lake.raw_total + rec.lake.quarantined_total, rec.produced, "bold")
    row("duplicates in raw (dropped in curated)", rec.lake.duplicates, expected.get("duplicates") if expected else None)
    if rec.lake.failed_batches:
        row("batches in the on-failure queue", len(rec.lake.failed_batches), 0, "red")
    console.print(table)
    if rec.ok:
        console.print("[bold green]reconciled:[/] produced = raw + quarantine, exactly.")
    else:
        for problem in rec.problems:
            console.print(f"[bold red]NOT reconciled:[/] {problem}")


def export_lake(s3, storage_outputs: dict[str, str], directory: Path) -> int:
    """Copy every object of the lake's buckets to DIR/<bucket>/<key>."""
    buckets = sorted({v for k, v in storage_outputs.items() if k.endswith("BucketName")})
    count = 0
    for bucket in buckets:
        for key in _keys(s3, bucket):
            target = directory / bucket / key
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=key)["Body"], handle)
            count += 1
    return count


def _keys(s3, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def main_demo(options: DemoOptions) -> int:
    console = Console()
    try:
        summary = run_demo(options, console)
    except DemoError as error:
        console.print(f"[bold red]demo failed:[/] {error}")
        return 2
    if options.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if summary["reconciled"] else 1
