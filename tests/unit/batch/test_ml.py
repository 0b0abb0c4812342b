"""Customer segments (k-means), product affinity (FP-growth) and the seasonal demand forecast on small exact
fixtures, plus the EMR entry scripts run end to end on local Parquet."""

from __future__ import annotations

import datetime as dt
import json
import runpy
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from retail_lake.batch.ml import cluster_labels, customer_segments, demand_forecast, product_affinity
from retail_lake.quality.rules import rules_for

EMR_STEPS = Path(__file__).resolve().parents[3] / "emr_steps"

# ------------------------------------------------------------------------------------------- segments

# Four clearly distinct groups of three customers: (recency_days, frequency, monetary), slightly jittered.
RFM_GROUPS = {
    "top": [(2, 52, 5200.0), (3, 48, 4900.0), (1, 50, 5100.0)],
    "high": [(12, 20, 1050.0), (10, 21, 980.0), (11, 19, 1000.0)],
    "mid": [(60, 5, 210.0), (55, 6, 190.0), (65, 5, 200.0)],
    "low": [(300, 1, 21.0), (320, 1, 19.0), (280, 1, 20.0)],
}


def rfm_rows(spark):
    rows = [
        (f"C{group}{i}", recency, frequency, monetary)
        for group, members in RFM_GROUPS.items()
        for i, (recency, frequency, monetary) in enumerate(members)
    ]
    return spark.createDataFrame(rows, "customer_id string, recency_days int, frequency long, monetary double")


@pytest.fixture(scope="module")
def segmentation(spark):
    return customer_segments(rfm_rows(spark), k=4, seed=7)


def test_segments_separate_distinct_groups_with_labels_ordered_by_spend(segmentation):
    got = {r["customer_id"]: (r["cluster"], r["cluster_label"]) for r in segmentation.segments.collect()}
    expected = {
        f"C{group}{i}": (cluster, group)
        for cluster, (group, members) in enumerate(RFM_GROUPS.items())
        for i in range(len(members))
    }
    assert got == expected
    assert segmentation.silhouette is not None and segmentation.silhouette > 0.8
    profiles = [(r["cluster"], r["cluster_label"], r["customers"]) for r in segmentation.profiles.collect()]
    assert profiles == [(0, "top", 3), (1, "high", 3), (2, "mid", 3), (3, "low", 3)]


def test_segments_are_identical_across_runs_with_the_same_seed(spark, segmentation):
    again = customer_segments(rfm_rows(spark), k=4, seed=7)
    assert sorted(again.segments.collect()) == sorted(segmentation.segments.collect())
    assert again.silhouette == segmentation.silhouette


def test_cluster_labels_beyond_the_named_ones():
    assert cluster_labels(4) == ("top", "high", "mid", "low")
    assert cluster_labels(7) == tuple(f"tier_{i}" for i in range(1, 8))
    with pytest.raises(ValueError):
        cluster_labels(0)


# ------------------------------------------------------------------------------------------- affinity

# Ten baskets: bread in 5, butter in 5, both in 4, so bread -> butter has support 4/10, confidence 4/5 and
# lift 0.8 / 0.5 = 1.6. The repeated bread line in T1 must count once.
BASKETS = {
    "T1": ["bread", "butter", "bread"],
    "T2": ["bread", "butter", "milk"],
    "T3": ["bread", "butter"],
    "T4": ["bread", "butter", "jam"],
    "T5": ["bread"],
    "T6": ["butter"],
    "T7": ["milk"],
    "T8": ["milk", "jam"],
    "T9": ["eggs"],
    "T10": ["eggs", "milk"],
}


def test_fp_growth_finds_the_planted_rule_with_exact_measures(spark):
    lines = spark.createDataFrame(
        [(txn, sku) for txn, skus in BASKETS.items() for sku in skus], "transaction_id string, sku string",
    )
    rules = product_affinity(lines, min_support=0.3, min_confidence=0.5).collect()
    got = [(r["antecedent"], r["consequent"], r["rule"], r["support"], r["confidence"], r["lift"], r["baskets"],
            r["total_baskets"]) for r in rules]
    assert got == [
        (["bread"], "butter", "bread -> butter", 0.4, 0.8, 1.6, 4, 10),
        (["butter"], "bread", "butter -> bread", 0.4, 0.8, 1.6, 4, 10),
    ]


# ------------------------------------------------------------------------------------------- forecast

WEEK = [3, 5, 7, 2, 0, 9, 4]  # Monday .. Sunday; the 0 day has no daily_sales row at all
START = dt.date(2026, 1, 5)  # a Monday


def daily(spark, series: dict[tuple[str, str], list[float]], start: dt.date = START):
    rows = [
        (start + dt.timedelta(days=i), store, sku, float(units))
        for (store, sku), values in series.items()
        for i, units in enumerate(values)
        if units != 0
    ]
    return spark.createDataFrame(rows, "event_date date, store_id string, sku string, units double")


def test_seasonal_forecast_reproduces_a_weekly_series_exactly(spark):
    sales = daily(spark, {("ST1", "A"): WEEK * 4})  # 28 days: 2026-01-05 .. 2026-02-01
    result = demand_forecast(sales, horizon_days=10, season=7, backtest_days=7)
    forecasts = [(r["forecast_date"], r["horizon"], r["forecast_units"]) for r in result.forecasts.collect()]
    last = START + dt.timedelta(days=27)
    assert forecasts == [(last + dt.timedelta(days=h), h, float(WEEK[(h - 1) % 7])) for h in range(1, 11)]
    (series,) = result.backtest.collect()
    assert (series["days"], series["mae"], series["wape"], series["actual_units"]) == (7, 0.0, 0.0, 30.0)
    (overall,) = result.backtest_overall.collect()
    assert (overall["series"], overall["points"], overall["mae"], overall["wape"]) == (1, 7, 0.0, 0.0)


def test_backtest_errors_on_a_known_shift(spark):
    shifted = [x + 2 for x in WEEK]  # the last (hidden) week sells 2 more every day: sum 44
    sales = daily(spark, {
        ("ST1", "A"): WEEK * 3 + shifted,
        ("ST1", "B"): [10] * 28,  # flat: no error
        ("ST2", "C"): [0] * 25 + [6, 6, 6],  # first sold 3 days before the end: not scored, partial forecast
    })
    result = demand_forecast(sales, horizon_days=7, season=7, backtest_days=7)
    backtest = {(r["store_id"], r["sku"]): (r["days"], r["abs_error"], r["mae"], r["wape"])
                for r in result.backtest.collect()}
    assert backtest == {("ST1", "A"): (7, 14.0, 2.0, 14 / 44), ("ST1", "B"): (7, 0.0, 0.0, 0.0)}
    (overall,) = result.backtest_overall.collect()
    assert (overall["series"], overall["points"], overall["abs_error"], overall["mae"], overall["wape"]) == (
        2, 14, 14.0, 1.0, 14 / 114)
    assert (overall["backtest_start"], overall["backtest_end"]) == (START + dt.timedelta(days=21),
                                                                    START + dt.timedelta(days=27))
    by_series = {}
    for r in result.forecasts.collect():
        by_series.setdefault((r["store_id"], r["sku"]), []).append(r["forecast_units"])
    assert by_series[("ST1", "A")] == [float(x) for x in shifted]  # the forecast follows the new level
    assert by_series[("ST1", "B")] == [10.0] * 7
    assert by_series[("ST2", "C")] == [None] * 4 + [6.0] * 3  # base days before the first sale: no forecast


# ------------------------------------------------------------------------------------------- entry scripts


def run_step(script: str, args: list[str], capsys) -> dict:
    saved = sys.argv
    sys.argv = [str(EMR_STEPS / script), *args, "--JOB_NAME", "ignored-launcher-argument"]
    try:
        runpy.run_path(str(EMR_STEPS / script), run_name="__main__")
    finally:
        sys.argv = saved
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_emr_steps_read_parquet_and_write_their_tables(spark, tmp_path, capsys):
    analytics, curated, out = tmp_path / "analytics", tmp_path / "curated", tmp_path / "out"
    run_date = (START + dt.timedelta(days=27)).isoformat()
    from pyspark.sql import functions as F

    (rfm_rows(spark).withColumn("as_of_date", F.lit(run_date).cast("date"))
     .write.partitionBy("as_of_date").parquet(str(analytics / "customer_360")))
    daily(spark, {("ST1", "A"): WEEK * 4}).write.partitionBy("event_date").parquet(str(analytics / "daily_sales"))
    spark.createDataFrame(  # curated POS sales as stored: one row per sale line
        [(run_date, f"E{txn}", txn, sku, 1, Decimal("1.00")) for txn, skus in BASKETS.items() for sku in skus],
        "event_date string, event_id string, transaction_id string, sku string, quantity bigint, "
        "net_amount decimal(12,2)",
    ).write.partitionBy("event_date").parquet(str(curated / "pos_sales"))

    common = ["--run_date", run_date, "--output_path", str(out)]
    segments = run_step("customer_segmentation.py", [*common, "--analytics_path", str(analytics)], capsys)
    affinity = run_step("product_affinity.py", [*common, "--curated_path", str(curated), "--min_support", "0.3",
                                                "--min_confidence", "0.5"], capsys)
    forecast = run_step("demand_forecast.py", [*common, "--analytics_path", str(analytics)], capsys)
    # a rerun of the same date replaces its partition instead of appending
    run_step("product_affinity.py", [*common, "--curated_path", str(curated), "--min_support", "0.3",
                                     "--min_confidence", "0.5"], capsys)

    assert segments["rows"]["customer_segments"] == 12 and segments["silhouette"] > 0.8
    assert affinity["rows"] == {"product_affinity": 2}
    assert forecast["rows"] == {"demand_forecast": 7, "demand_forecast_backtest": 1,
                                "demand_forecast_backtest_summary": 1}
    rules = spark.read.parquet(str(out / "product_affinity"))
    assert rules.count() == 2 and {r["as_of_date"] for r in rules.collect()} == {dt.date.fromisoformat(run_date)}
    assert spark.read.parquet(str(out / "customer_segments")).count() == 12
    assert spark.read.parquet(str(out / "demand_forecast_backtest_summary")).first()["mae"] == 0.0


# ------------------------------------------------------------------------------------------- the output gate


def test_a_failing_output_rule_stops_the_step_before_it_writes(spark, tmp_path, capsys):
    """Returns booked as negative daily units propagate into a negative forecast: the step's gate fails
    `demand_forecast.forecast_units.range` on the 7 forecast rows, nothing is written, the results and the report
    say why."""
    from retail_lake.quality.gate import QualityGateFailed

    analytics, out = tmp_path / "analytics", tmp_path / "out"
    run_date = START + dt.timedelta(days=27)
    daily(spark, {("ST1", "A"): [-2] * 28}).write.partitionBy("event_date").parquet(str(analytics / "daily_sales"))

    with pytest.raises(QualityGateFailed, match=r"demand_forecast\.forecast_units\.range \(7 failing rows\)"):
        run_step("demand_forecast.py", ["--run_date", run_date.isoformat(), "--output_path", str(out),
                                        "--analytics_path", str(analytics)], capsys)

    written = sorted(p.name for p in out.iterdir())
    assert written == ["quality_reports", "quality_results"]  # none of the step's three tables
    results = {r["rule_id"]: r for r in spark.read.parquet(str(out / "quality_results")).collect()}
    assert set(results) == {r.id for r in rules_for("demand_forecast")}
    failed = {rule_id for rule_id, r in results.items() if r["status"] == "failed"}
    assert failed == {"demand_forecast.forecast_units.range"}
    assert results["demand_forecast.forecast_units.range"]["failing_rows"] == 7
    assert {r["data_partition"] for r in results.values()} == {f"as_of_date={run_date}"}
    (report,) = (out / "quality_reports" / f"run_date={run_date}").iterdir()
    text = report.read_text()
    assert "FAILED (the demand_forecast outputs stopped)" in text and "forecast_units=-2.0" in text


def _segments(spark, run_date: dt.date, rows: list[tuple]):
    from pyspark.sql import functions as F

    from retail_lake.batch.schemas import EMR_TABLES, conform

    frame = spark.createDataFrame(rows, "customer_id string, cluster int, cluster_label string, recency_days double, "
                                        "frequency double, monetary double")
    return conform(frame.withColumn("as_of_date", F.lit(run_date)), EMR_TABLES["customer_segments"])


class Recorder:
    """Stands in for the CloudWatch and SNS clients: keeps what the gate sends."""

    def __init__(self):
        self.metrics, self.messages = [], []

    def put_metric_data(self, Namespace, MetricData):
        self.metrics.extend((Namespace, d) for d in MetricData)

    def publish(self, TopicArn, Subject, Message):
        self.messages.append((TopicArn, Subject, Message))
        return {"MessageId": str(len(self.messages))}

    def metric(self, name, **dimensions):
        wanted = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        (value,) = [d["Value"] for _, d in self.metrics if d["MetricName"] == name and d["Dimensions"] == wanted]
        return value


def _gate_args(tmp_path, topic="arn:aws:sns:eu-west-1:123456789012:quality"):
    import argparse

    from retail_lake.quality import output_gate

    parser = argparse.ArgumentParser()
    output_gate.add_arguments(parser)
    return parser.parse_args(["--topic_arn", topic, "--pipeline", "retail-lake-dev",
                              "--results_path", str(tmp_path / "results"), "--report_path", str(tmp_path / "reports")])


def test_an_error_rule_on_segments_publishes_metrics_and_the_message(spark, tmp_path):
    from retail_lake.quality import output_gate
    from retail_lake.quality.gate import QualityGateFailed

    run_date = START
    segments = _segments(spark, run_date, [("C1", 0, "top", 2.0, 5.0, 90.0), ("C1", 1, "low", 30.0, 1.0, 5.0),
                                           ("C2", 1, "low", 40.0, 1.0, 4.0)])
    clients = Recorder()
    with pytest.raises(QualityGateFailed, match=r"customer_segments\.customer_id\.unique \(2 failing rows\)"):
        output_gate.enforce(spark, "customer_segmentation", {"customer_segments": segments}, run_date,
                            str(tmp_path / "out"), _gate_args(tmp_path), cloudwatch=clients, sns=clients)

    assert clients.metric("GateFailed", Pipeline="retail-lake-dev") == 1
    assert clients.metric("FailedRules", Pipeline="retail-lake-dev", Dataset="customer_segments", Level="error") == 1
    assert clients.metric("FailingRows", Pipeline="retail-lake-dev", Dataset="customer_segments", Level="error") == 2
    assert {namespace for namespace, _ in clients.metrics} == {"RetailLake/Quality"}
    ((topic, subject, message),) = clients.messages
    assert topic.endswith(":quality")
    assert subject == f"Quality gate FAILED: retail-lake-dev customer_segmentation {run_date}"
    assert "customer_segments.customer_id.unique" in message and "FAILED (the customer_segmentation outputs stopped)" \
        in message
    assert "e.g." not in message and "C1" not in message  # no column of the table is an example column: counts only
    assert not (tmp_path / "out").exists()  # the gate writes no table itself


def test_a_warning_on_segments_reports_and_lets_the_step_write(spark, tmp_path):
    from retail_lake.quality import output_gate

    run_date = START
    segments = _segments(spark, run_date, [("C1", 0, "top", 2.0, 5.0, 90.0), ("C2", 1, "low", 40.0, 1.0, -4.0)])
    clients = Recorder()
    report = output_gate.enforce(spark, "customer_segmentation", {"customer_segments": segments,
                                                                  "customer_segment_profiles": segments},
                                 run_date, str(tmp_path / "out"), _gate_args(tmp_path), cloudwatch=clients,
                                 sns=clients)

    assert not report.failed and [d.dataset for d in report.datasets] == ["customer_segments"]  # profiles: no rules
    warnings = output_gate.quality_summary(report)["warnings"]
    assert warnings == {"customer_segments": ["customer_segments.monetary.range"]}
    assert clients.metric("GateFailed", Pipeline="retail-lake-dev") == 0
    assert clients.metric("FailedRules", Pipeline="retail-lake-dev", Dataset="customer_segments", Level="warning") == 1
    assert clients.messages == []


def test_the_row_count_band_of_an_output_comes_from_its_written_dates(spark, tmp_path):
    """Seven earlier as_of_date partitions of 4 customers each: 1 customer today is outside 4 +/- 50%."""
    from retail_lake.quality import output_gate

    out = tmp_path / "out"
    for days_before in range(1, 8):
        day = START - dt.timedelta(days=days_before)
        rows = [(f"C{i}", 0, "top", 1.0, 1.0, 1.0) for i in range(4)]
        (_segments(spark, day, rows).write.partitionBy("as_of_date").mode("append")
         .parquet(str(out / "customer_segments")))
    today = _segments(spark, START, [("C1", 0, "top", 1.0, 1.0, 1.0)])
    report = output_gate.gate_outputs(spark, "customer_segmentation", {"customer_segments": today}, START, str(out))
    (anomaly,) = [r for r in report.datasets[0].results if r.rule_id == "customer_segments.rows.anomaly"]
    assert (anomaly.status, anomaly.threshold) == ("failed", "between 2 and 6")
