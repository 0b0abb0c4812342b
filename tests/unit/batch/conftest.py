"""One local SparkSession for the whole batch suite, and the reference dimensions the tests share."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    # Python turns collected timestamps into naive local datetimes: pin the process to UTC while Spark runs.
    previous_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    session = (
        SparkSession.builder.master("local[1]")
        .appName("retail-lake-batch-unit")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.session.timeZone", "UTC")
        # Fixtures of a few rows: adaptive re-planning and whole-stage code generation cost more than
        # they save (the suite runs in about half the time without them); the integration runs keep both.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        if previous_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous_tz
        time.tzset()


@pytest.fixture(scope="session")
def stores(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("ST0001", "New York Flagship 1", "northeast", "flagship", "America/New_York"),
            ("ST0002", "Los Angeles Standard 2", "west", "standard", "America/Los_Angeles"),
        ],
        "store_id string, name string, region string, format string, timezone string",
    )


@pytest.fixture(scope="session")
def products(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("SKU-000001", "Acme Soft Towel", "home", "Acme", 12.99, 7.15),
            ("SKU-000002", "Zed Bright Lamp", "home", "Zed", 49.99, 30.0),
        ],
        "sku string, name string, category string, brand string, list_price double, unit_cost double",
    )


@pytest.fixture(scope="session")
def customers(spark: SparkSession) -> DataFrame:
    # as the generator writes it: personal columns in clear, which conform_keys must not carry over
    return spark.createDataFrame(
        [("C0000001", "Ann", "Lee", "ann.lee@example.com", "+12125550100", "ST0001", "gold")],
        "customer_id string, first_name string, last_name string, email string, phone string, "
        "home_store_id string, loyalty_tier string",
    )
