"""Stage configuration is validated at synth time with errors naming the stage, the key and what is allowed."""

from __future__ import annotations

import copy
import json
import re

import pytest

from stacks.app_builder import CDK_JSON
from stacks.stage_config import StageConfigError, load_stage_config, parse_stage_config

STAGES = json.loads(CDK_JSON.read_text())["context"]["stages"]


def _dev(**changes: object) -> dict:
    raw = copy.deepcopy(STAGES["dev"])
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = raw
        for parent in parents:
            target = target[parent]
        if value is None:
            target.pop(leaf)
        else:
            target[leaf] = value
    return raw


def test_cdk_json_stages_are_valid() -> None:
    dev = load_stage_config(STAGES, "dev")
    prod = load_stage_config(STAGES, "prod")
    assert dev.remove_data_on_destroy is True and prod.remove_data_on_destroy is False
    assert dev.stack_name("Storage") == "RetailLake-dev-Storage"
    assert prod.kinesis.stream_mode == "provisioned" and prod.kinesis.shard_count == 2
    assert load_stage_config(STAGES, None).stage == "dev"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kinesis__stream_mode": "burst"},
         "stage 'dev': cdk.json context 'stages.dev.kinesis.stream_mode' is 'burst'; allowed: on_demand, provisioned"),
        ({"event_source__batch_size": -5},
         "'stages.dev.event_source.batch_size' is -5; must be an integer between 1 and 10000"),
        ({"event_source__parallelization_factor": "2"},
         "'stages.dev.event_source.parallelization_factor' must be an integer, got '2'"),
        ({"kinesis__stream_mode": "provisioned"},
         "'stages.dev.kinesis.shard_count' is missing; stream_mode 'provisioned' needs a shard_count >= 1"),
        ({"remove_data_on_destroy": "yes"}, "'stages.dev.remove_data_on_destroy' must be true or false"),
        ({"log_retention_days": 10}, "'stages.dev.log_retention_days' is 10; allowed: 1, 3, 5, 7, 14"),
        ({"lifecycle__raw__transition_to_glacier_days": 20},
         "'stages.dev.lifecycle.raw.transition_to_glacier_days' is 20; must be greater than transition_to_ia_days"),
        ({"stream_lambda__memory_mb": None}, "'stages.dev.stream_lambda.memory_mb' is missing"),
        ({"alarms__iterator_age_sec": 5}, "'stages.dev.alarms.iterator_age_sec' is not a known setting"),
        ({"aws_sdk_pandas_layer_arn": "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312:3"},
         "'stages.dev.aws_sdk_pandas_layer_arn' is 'arn:aws:lambda:eu-west-1:336392948345:layer:"
         "AWSSDKPandas-Python312:3'; must be the AWS SDK for pandas managed layer for Python 3.11 x86_64"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(changes: dict, message: str) -> None:
    with pytest.raises(StageConfigError, match=re.escape(message)):
        parse_stage_config("dev", _dev(**changes))


def test_alarm_email_is_optional() -> None:
    assert "alarm_email" not in STAGES["dev"] and "alarm_email" not in STAGES["prod"]
    assert load_stage_config(STAGES, "dev").alarm_email is None
    assert parse_stage_config("dev", _dev(alarm_email="")).alarm_email is None
    assert parse_stage_config("dev", _dev(alarm_email="data-oncall+lake@retail.example.com")).alarm_email == (
        "data-oncall+lake@retail.example.com"
    )


@pytest.mark.parametrize("value", ["ops", "ops@localhost", "ops@example.com\n", " ops@example.com", "a@b@c.io", 42,
                                   ["ops@example.com"]])
def test_invalid_alarm_email_fails_with_a_clear_message(value: object) -> None:
    message = (f"stage 'dev': cdk.json context 'stages.dev.alarm_email' is {value!r}; must be an e-mail address "
               "such as ops@example.com, or empty / left out for no subscription")
    with pytest.raises(StageConfigError, match=re.escape(message)):
        parse_stage_config("dev", _dev(alarm_email=value))


def test_unknown_stage_lists_the_defined_ones() -> None:
    with pytest.raises(StageConfigError, match=re.escape("stage 'qa' is not defined in cdk.json context 'stages'; "
                                                         "defined stages: dev, prod")):
        load_stage_config(STAGES, "qa")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sources__cdc_landing_expiration_days": 30},
         "'stages.dev.sources.cdc_landing_expiration_days' is 30; must be an integer between 1 and 14"),
        ({"sources__cdc_merge_schedule": "rate(1 hour)"},
         "'stages.dev.sources.cdc_merge_schedule' is 'rate(1 hour)'; must be a Glue trigger cron expression"),
    ],
)
def test_cdc_landing_settings_are_validated(changes: dict, message: str) -> None:
    with pytest.raises(StageConfigError, match=re.escape(message)):
        parse_stage_config("dev", _dev(**changes))
    defaults = parse_stage_config("dev", _dev()).sources
    assert defaults.cdc_landing_expiration_days == 5 and defaults.cdc_merge_schedule.startswith("cron(")
