"""`retail-lake generate`: arguments and the command, for the package CLI to wire in."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from retail_lake.generator.config import DEFECT_CLASSES, GeneratorConfig, GeneratorConfigError
from retail_lake.generator.reference_writer import write_reference_data
from retail_lake.generator.stream import write_jsonl


def add_generate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    defaults = GeneratorConfig()
    parser.add_argument("--events", type=int, default=None,
                        help="exact number of lines to write, defective lines included (default: sized by stores x days)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    parser.add_argument("--out", required=True, help="JSON Lines file to write; the report goes to OUT.report.json")
    parser.add_argument("--stores", type=int, default=defaults.stores)
    parser.add_argument("--skus", type=int, default=defaults.skus)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=defaults.start_date,
                        help=f"first day, YYYY-MM-DD (default {defaults.start_date})")
    parser.add_argument("--defect-rate", type=float, default=defaults.defect_rate,
                        help=f"fraction of lines per defect class (default {defaults.defect_rate})")
    parser.add_argument("--defect-count", action="append", default=[], metavar="CLASS=N",
                        help=f"exact count for one defect class (repeatable); classes: {', '.join(DEFECT_CLASSES)}")
    parser.add_argument("--no-defects", action="store_true", help="clean events only")
    parser.add_argument("--reference-dir", default=None,
                        help="also write stores, products, customers and promotions (CSV and Parquet) here")
    return parser


def config_from_args(args: argparse.Namespace) -> GeneratorConfig:
    counts = {}
    for item in args.defect_count:
        name, _, value = item.partition("=")
        try:
            counts[name.strip()] = int(value)
        except ValueError:
            raise GeneratorConfigError(f"--defect-count expects CLASS=N, got {item!r}") from None
    config = GeneratorConfig(
        seed=args.seed, stores=args.stores, skus=args.skus, customers=args.customers, days=args.days,
        start_date=args.start_date, events=args.events, defect_rate=args.defect_rate, defect_counts=counts,
    )
    return config.with_no_defects() if args.no_defects else config


def run_generate(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        started = time.perf_counter()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        report = write_jsonl(config, out)
    except (GeneratorConfigError, ValueError) as error:
        print(f"retail-lake generate: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    report_path = Path(f"{out}.report.json")
    report_path.write_text(report.to_json() + "\n")
    by_type = ", ".join(f"{n} {t}" for t, n in report.events_by_record_type.items())
    defects = sum(report.defects.values())
    quarantined = report.expected["quarantined"]
    print(f"wrote {report.total_lines} events to {out} in {elapsed:.1f} s ({by_type})")
    print(f"  {report.first_event_time} .. {report.last_event_time}, seed {config.seed}")
    print(f"  defects: {defects} lines" + (": " + ", ".join(f"{c} {n}" for c, n in report.defects.items() if n)
                                          if defects else ""))
    print(f"  expected: {report.expected['raw']} to raw ({report.expected['duplicates']} duplicates), "
          f"{sum(quarantined.values())} quarantined"
          + (" (" + ", ".join(f"{r} {n}" for r, n in quarantined.items() if n) + ")" if any(quarantined.values()) else "")
          + f", {report.expected['card_numbers_in_free_text']} card numbers to mask")
    print(f"  report: {report_path}")
    if args.reference_dir:
        files = write_reference_data(config, args.reference_dir)
        print(f"  reference data: {len(files)} files in {args.reference_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_generate_arguments(argparse.ArgumentParser(prog="retail-lake generate"))
    return run_generate(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
