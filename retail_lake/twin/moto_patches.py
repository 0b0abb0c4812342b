"""Work-arounds for moto 5.2.5 behaviours that would make the twin differ from AWS (embedded twin only).
Each patch says what moto does and what AWS does; `install()`/`uninstall()` are idempotent."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

_originals: dict[tuple[type, str], Any] = {}

# The request context every twin request has: clients reach AWS over TLS, inside the twin's account.
REQUEST_CONTEXT = {"aws:securetransport": "true"}


def _replace(owner: type, name: str, replacement: Any) -> None:
    if (owner, name) not in _originals:
        _originals[(owner, name)] = owner.__dict__[name]
        setattr(owner, name, replacement)


def install(account_id: str) -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.s3.models import FakeBucket

    # moto invokes a mapped function synchronously inside every PutRecord. On the twin the Kinesis poller is the
    # event-source mapping (batches, retries, checkpoints), so moto's push is switched off.
    _replace(LambdaBackend, "send_kinesis_message", lambda self, *args, **kwargs: None)

    # moto evaluates bucket-policy statements with no request context and turns an unmet Condition into an
    # explicit Deny, so the CDK's `enforceSSL` statement (Deny if aws:SecureTransport is false) denies every
    # object request. AWS skips a statement whose condition does not hold; we evaluate conditions against the
    # twin's request context and hand moto only the statements that apply, without their conditions.
    context = {**REQUEST_CONTEXT, "aws:principalaccount": account_id}

    def get_permission(self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        applicable = [
            {k: v for k, v in statement.items() if k != "Condition"}
            for statement in statements
            if conditions_hold(statement.get("Condition", {}), context)
        ]
        if not applicable:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": applicable})).is_action_permitted(action, resource)

    _replace(FakeBucket, "get_permission", get_permission)

    # moto accepts a log target's bucket policy only when a logging-service statement's Resource is one string; the
    # CDK grants several source buckets' log prefixes in one statement (a list of Resources), which AWS accepts.
    original_log_check = FakeBucket.__dict__["_log_permissions_enabled_policy"].__func__

    def log_permissions_enabled_policy(target_bucket: Any, target_prefix: str | None) -> bool:
        if target_bucket.policy:
            document = json.loads(target_bucket.policy.decode())
            statements = document.get("Statement", [])
            split = [{**statement, "Resource": resource} for statement in
                     (statements if isinstance(statements, list) else [statements])
                     for resource in (statement.get("Resource") if isinstance(statement.get("Resource"), list)
                                      else [statement.get("Resource")])]
            target_bucket = _PolicyView(target_bucket, json.dumps({**document, "Statement": split}).encode())
        return original_log_check(target_bucket, target_prefix)

    _replace(FakeBucket, "_log_permissions_enabled_policy", staticmethod(log_permissions_enabled_policy))


class _PolicyView:
    """A bucket seen with another policy document (for moto's log-target permission check)."""

    def __init__(self, bucket: Any, policy: bytes) -> None:
        self._bucket, self.policy = bucket, policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bucket, name)


def uninstall() -> None:
    for (owner, name), original in _originals.items():
        setattr(owner, name, original)
    _originals.clear()


def _values(value: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in (value if isinstance(value, list) else [value])]


def conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators bucket policies use. A missing context key fails the condition
    (passes with ...IfExists); operators the twin does not know make the statement not apply."""
    for operator, pairs in conditions.items():
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        for key, expected in pairs.items():
            actual = context.get(key.lower())
            if base == "Null":
                if (actual is None) != (_values(expected)[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists:
                    continue
                return False
            expected_values = _values(expected)
            if base == "Bool":
                matched = actual.lower() in [v.lower() for v in expected_values]
            elif base in ("StringEquals", "ArnEquals"):
                matched = actual in expected_values
            elif base == "StringEqualsIgnoreCase":
                matched = actual.lower() in [v.lower() for v in expected_values]
            elif base in ("StringLike", "ArnLike"):
                matched = any(fnmatch.fnmatchcase(actual, v) for v in expected_values)
            elif base in ("StringNotEquals", "ArnNotEquals"):
                matched = actual not in expected_values
            elif base in ("StringNotLike", "ArnNotLike"):
                matched = not any(fnmatch.fnmatchcase(actual, v) for v in expected_values)
            else:
                return False
            if not matched:
                return False
    return True
