"""`retail-lake`: the command line of the lake (generate data, run the demo on the local twin, benchmarks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from retail_lake.demo import DemoOptions, main_demo

    return main_demo(
        DemoOptions(
            events=args.events,
            seed=args.seed,
            input=args.input,
            json=args.json,
            export=args.export,
            assembly=args.assembly,
            synth=args.synth,
            stage=args.stage,
            batch=not args.no_batch,
            database=not args.no_database,
            emr=not args.no_emr,
        )
    )


def _run_pipeline(args: argparse.Namespace) -> int:
    """One business date through the deployed daily pipeline state machine, followed state by state."""
    import json

    import boto3

    from retail_lake.orchestration.pipeline_runner import PipelineRunError, run_and_report, state_machine_arn
    from retail_lake.orchestration.run_plan import InvalidRunInput

    execution_input: dict = {}
    if args.datasets:
        execution_input["datasets"] = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.backfill:
        execution_input["backfill"] = True
    if args.poll_seconds:
        execution_input["poll_seconds"] = args.poll_seconds
    try:
        machine = state_machine_arn(boto3.client("cloudformation"), f"RetailLake-{args.stage}-Orchestration")
        run = run_and_report(boto3.client("stepfunctions"), machine, args.date, execution_input=execution_input,
                             out=lambda line: print(line, flush=True))
    except (PipelineRunError, InvalidRunInput) as error:
        print(f"run failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"execution": run.name, "status": run.status, "run_date": run.run_date,
                          "error": run.error, "cause": run.cause, "output": run.output}, default=str))
    return 0 if run.status == "SUCCEEDED" else 1


def _run_batch(args: argparse.Namespace) -> int:
    """The batch layer for one date on the account the AWS SDK points at (credentials and region from the
    environment; AWS_ENDPOINT_URL for LocalStack)."""
    import json

    import boto3

    from retail_lake.orchestration.batch_day import (
        BatchRunError,
        QualityGateError,
        lake_summary,
        quality_report,
        run_batch_day,
        stack_outputs,
    )

    cloudformation = boto3.client("cloudformation")
    try:
        batch = stack_outputs(cloudformation, f"RetailLake-{args.stage}-Batch")
        storage = stack_outputs(cloudformation, f"RetailLake-{args.stage}-Storage")
        result = run_batch_day(boto3.client("glue"), batch, args.date, backfill=args.backfill,
                               progress=lambda what: print(f"glue: {what} ...", flush=True))
    except QualityGateError as error:
        print(f"run-batch stopped by the data quality gate: {error}", file=sys.stderr)
        report = quality_report(boto3.client("s3"), storage, args.date, error.run.run_id)
        if report:
            print(report, file=sys.stderr)
        print(f"The quality topic ({batch.get('QualityTopicArn', 'QualityTopicArn')}) was notified; every result "
              f"is in {batch.get('QualityDatabaseName', 'the quality database')}.quality_results.", file=sys.stderr)
        return 1
    except BatchRunError as error:
        print(f"run-batch failed: {error}", file=sys.stderr)
        return 1
    for run in result.runs:
        print(f"  {run.job}: {run.state} in {run.seconds:.1f}s")
    summary = {"run_date": result.run_date, "runs": [run.__dict__ for run in result.runs],
               **lake_summary(boto3.client("s3"), storage)}
    print(f"curated: {summary['curated']}; analytics: {summary['analytics']}")
    if args.emr:
        from retail_lake.orchestration.analytics_steps import run_emr_for_batch_day

        emr_summary = run_emr_for_batch_day(cloudformation, boto3.client("emr-serverless"), boto3.client("s3"),
                                            args.stage, args.date, storage)
        summary["emr"] = emr_summary
        if not emr_summary["ok"]:
            print(f"run-batch failed: {emr_summary['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    return 0 if result.ok and summary.get("emr", {}).get("ok", True) else 1


def _redrive(args: argparse.Namespace) -> int:
    """Redrive the stream batches in the ingestion stack's on-failure queue (see retail_lake.ingestion.redrive)."""
    import json

    import boto3

    from retail_lake.ingestion.redrive import Redriver, RedriveError
    from retail_lake.orchestration.batch_day import BatchRunError, stack_outputs

    try:
        ingestion = stack_outputs(boto3.client("cloudformation"), f"RetailLake-{args.stage}-Ingestion")
        redriver = Redriver(sqs=boto3.client("sqs"), kinesis=boto3.client("kinesis"),
                            lambda_client=boto3.client("lambda"), queue_url=ingestion["OnFailureQueueUrl"],
                            function=args.function)
        report = redriver.run(max_messages=args.max_messages, dry_run=args.dry_run)
    except (BatchRunError, RedriveError, KeyError) as error:
        print(f"redrive failed: {error}", file=sys.stderr)
        return 1
    for outcome in report.outcomes:
        where = f"{outcome.shard_id} {outcome.start_sequence_number}..{outcome.end_sequence_number}"
        print(f"  {outcome.status:<13} {where} ({outcome.records} records) {outcome.detail}".rstrip())
    summary = report.as_dict()
    print(f"{summary['messages']} failed batches: {summary['redriven']} redriven ({summary['records_redriven']} "
          f"records), {summary['still-failing']} still failing, {summary['expired']} expired, "
          f"{summary['unreadable']} unreadable" + (", dry run" if args.dry_run else ""))
    if args.json:
        print(json.dumps(summary))
    return 0 if report.count("still-failing") + report.count("expired") + report.count("unreadable") == 0 else 1


def _bench(args: argparse.Namespace) -> int:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    forwarded = ["--json"] if args.json else []
    if args.benchmark == "quality":
        from bench import quality

        return quality.main(forwarded + ["--rows", *[str(rows) for rows in args.rows]])
    if args.benchmark == "batch":
        from bench import batch

        forwarded += ["--events", str(args.events), "--seed", str(args.seed), "--driver-memory", args.driver_memory]
        forwarded += ["--no-baseline"] * args.no_baseline + ["--no-floor"] * args.no_floor
        return batch.main(forwarded)
    from bench import stream

    forwarded += ["--batch-events", str(args.batch_events), "--batches", str(args.batches)]
    return stream.main(forwarded)


def _query(args: argparse.Namespace) -> int:
    from retail_lake.serving.console import run_query_command

    return run_query_command(args.sql, stage=args.stage, twin=args.twin, assembly=args.assembly,
                             max_rows=args.max_rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retail-lake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from retail_lake.generator.cli import add_generate_arguments, run_generate

    generate = commands.add_parser("generate", help="write synthetic retail events as JSON lines")
    add_generate_arguments(generate)
    generate.set_defaults(func=run_generate)

    from retail_lake.sources.operational_db.cli import add_workload_arguments, run_workload

    workload = commands.add_parser("workload", help="seed the operational PostgreSQL store and apply changes to it")
    add_workload_arguments(workload)
    workload.set_defaults(func=run_workload)

    demo = commands.add_parser("demo", help="run the pipeline end to end on the embedded local twin")
    demo.add_argument("--events", type=_positive_int, default=200_000, help="events to generate (default 200,000)")
    demo.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    demo.add_argument("--input", type=Path, help="JSON-lines file of events to send instead of generated ones")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    demo.add_argument("--export", type=Path, metavar="DIR", help="copy every lake object to DIR/<bucket>/<key>")
    demo.add_argument("--assembly", type=Path, default=REPO_ROOT / "cdk.out", help="cloud assembly (default cdk.out)")
    demo.add_argument("--synth", action="store_true", help="synthesize the CDK app first even if cdk.out exists")
    demo.add_argument("--stage", default="dev", help="stage whose stacks to deploy (default dev)")
    demo.add_argument("--no-batch", action="store_true", help="stop after the streaming path (no Glue jobs)")
    demo.add_argument("--no-database", action="store_true",
                      help="leave out the database source (PostgreSQL -> DMS -> CDC merge)")
    demo.add_argument("--no-emr", action="store_true", help="skip the EMR Serverless steps after the Glue jobs")
    demo.set_defaults(func=_demo)

    run = commands.add_parser("run", help="run one business date through the daily pipeline state machine")
    run.add_argument("--date", required=True, help="business date, YYYY-MM-DD")
    run.add_argument("--stage", default="dev", help="stage whose state machine to use (default dev)")
    run.add_argument("--datasets", help="comma-separated datasets to curate (default: all)")
    run.add_argument("--backfill", action="store_true", help="replay every raw partition up to --date")
    run.add_argument("--poll-seconds", type=_positive_int, help="EMR/Athena status poll interval (default 30)")
    run.add_argument("--json", action="store_true", help="print the outcome as one JSON object, last")
    run.set_defaults(func=_run_pipeline)

    run_batch = commands.add_parser("run-batch", help="run the batch layer (Glue jobs) for one business date")
    run_batch.add_argument("--date", required=True, help="business date, YYYY-MM-DD")
    run_batch.add_argument("--stage", default="dev", help="stage whose stacks to use (default dev)")
    run_batch.add_argument("--backfill", action="store_true",
                           help="read every raw partition and rewrite every event date up to --date")
    run_batch.add_argument("--emr", action="store_true",
                           help="then run the EMR Serverless steps (segmentation, affinity, forecast) for --date")
    run_batch.add_argument("--json", action="store_true", help="print the summary as one JSON object, last")
    run_batch.set_defaults(func=_run_batch)

    redrive = commands.add_parser(
        "redrive", help="send stream batches that exhausted their retries (on-failure queue) to the function again")
    redrive.add_argument("--stage", default="dev", help="stage whose stacks to use (default dev)")
    redrive.add_argument("--function", help="function to send the records to (default: the one that failed)")
    redrive.add_argument("--max-messages", type=_positive_int, default=100, help="failed batches to handle (default 100)")
    redrive.add_argument("--dry-run", action="store_true", help="read the records back, invoke nothing, keep the messages")
    redrive.add_argument("--json", action="store_true", help="print the summary as one JSON object, last")
    redrive.set_defaults(func=_redrive)

    query = commands.add_parser("query", help="run one SQL statement on Athena and print the rows as a table")
    query.add_argument("sql", help="the statement, in Athena's SQL (Trino); tables of the analytics database")
    query.add_argument("--stage", default="dev", help="stage whose workgroup and database to use (default dev)")
    query.add_argument("--twin", action="store_true",
                       help="run on an embedded twin with a synthetic analytics zone instead of a deployed lake")
    query.add_argument("--assembly", type=Path, default=REPO_ROOT / "cdk.out", help="cloud assembly for --twin")
    query.add_argument("--max-rows", type=_positive_int, default=1000, help="rows to print (default 1,000)")
    query.set_defaults(func=_query)

    bench = commands.add_parser("bench", help="run a benchmark")
    bench_kinds = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    stream = bench_kinds.add_parser("stream", help="stream-transform handler throughput vs a naive baseline")
    stream.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    stream.add_argument("--batch-events", type=_positive_int, default=10_000)
    stream.add_argument("--batches", type=_positive_int, default=10)
    stream.set_defaults(func=_bench)
    batch = bench_kinds.add_parser("batch", help="batch layer (raw -> curated -> analytics) throughput on local[2]")
    batch.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    batch.add_argument("--events", type=_positive_int, default=1_000_000)
    batch.add_argument("--seed", type=int, default=42)
    batch.add_argument("--driver-memory", default="8g", help="Spark driver heap (local mode: the whole engine)")
    batch.add_argument("--no-baseline", action="store_true", help="skip the pandas baseline")
    batch.add_argument("--no-floor", action="store_true", help="skip the Spark copy floor (raw read and written back)")
    batch.set_defaults(func=_bench)
    quality = bench_kinds.add_parser("quality", help="quality rule evaluation time (Great Expectations) vs pandas")
    quality.add_argument("--json", action="store_true", help="print the result as one JSON object, last")
    quality.add_argument("--rows", type=_positive_int, nargs="+", default=[1_000_000])
    quality.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
