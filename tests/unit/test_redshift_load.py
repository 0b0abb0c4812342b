"""The Redshift load through the Data API: the statements of the SQL files, the order of the calls, and a failed
statement reported with Redshift's error. (moto's Data API leaves every statement STARTED, so a recording stub
stands in for Redshift.)"""

from __future__ import annotations

import pytest

from retail_lake.serving.redshift import (
    GOLD_TABLES,
    RedshiftLoadFailed,
    external_schema_statement,
    load_analytics,
    load_statements,
)


class _DataApi:
    def __init__(self, final: dict[str, dict]) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.final = final
        self.polls: dict[str, int] = {}

    def execute_statement(self, **kwargs):
        self.calls.append(("execute_statement", kwargs))
        return {"Id": "schema"}

    def batch_execute_statement(self, **kwargs):
        self.calls.append(("batch_execute_statement", kwargs))
        return {"Id": "load"}

    def describe_statement(self, Id):
        self.polls[Id] = self.polls.get(Id, 0) + 1
        return self.final[Id] if self.polls[Id] > 1 else {"Status": "STARTED"}


def test_load_runs_the_schema_then_one_batch_of_table_rebuilds() -> None:
    api = _DataApi({"schema": {"Status": "FINISHED"}, "load": {"Status": "FINISHED"}})
    result = load_analytics(api, workgroup="retail-lake-prod", database="retail",
                            analytics_database="retail_lake_prod_analytics", poll=0, timeout=5)
    assert result.status == "FINISHED" and result.statements == 1 + 2 * len(GOLD_TABLES)
    assert api.calls == [
        ("execute_statement", {"WorkgroupName": "retail-lake-prod", "Database": "retail",
                               "Sql": external_schema_statement(analytics_database="retail_lake_prod_analytics")}),
        ("batch_execute_statement", {"WorkgroupName": "retail-lake-prod", "Database": "retail",
                                     "Sqls": load_statements()}),
    ]
    assert api.polls == {"schema": 2, "load": 2}


def test_a_failed_load_raises_with_redshifts_error() -> None:
    api = _DataApi({"schema": {"Status": "FINISHED"},
                    "load": {"Status": "FAILED", "Error": "ERROR: permission denied for schema lake"}})
    with pytest.raises(RedshiftLoadFailed, match="load FAILED: ERROR: permission denied for schema lake"):
        load_analytics(api, workgroup="w", database="d", analytics_database="a", poll=0, timeout=5)


def test_a_load_that_never_finishes_times_out() -> None:
    api = _DataApi({"schema": {"Status": "STARTED"}})
    with pytest.raises(RedshiftLoadFailed, match="still STARTED"):
        load_analytics(api, workgroup="w", database="d", analytics_database="a", poll=0, timeout=0.05)
