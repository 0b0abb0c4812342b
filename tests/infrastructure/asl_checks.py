"""Static checks of an Amazon States Language definition as `cdk synth` wrote it: reachability, transitions,
Retry/Catch on every Task, and every `$.path` a state reads resolving in the document that reaches it."""

from __future__ import annotations

import json
import re
from typing import Any

ANY = "ANY"  # a value whose inside is not known statically (a service result, a list): every sub-path resolves
_PATH = re.compile(r"(?<![$\w])\$\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")


def definition_from_template(template: dict[str, Any], logical_id: str | None = None) -> dict[str, Any]:
    """The state machine's definition with every CloudFormation token replaced by a placeholder string."""
    machines = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    resource = machines[logical_id] if logical_id else next(iter(machines.values()))
    definition = resource["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        parts = definition["Fn::Join"][1]
        definition = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    return json.loads(definition)


def scopes(definition: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(scope name, {StartAt, States}) for the top level and every Map/Parallel inside."""
    found = [(path or "<root>", definition)]
    for name, state in definition["States"].items():
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found += scopes(state[key], f"{path}/{name}")
        for index, branch in enumerate(state.get("Branches", [])):
            found += scopes(branch, f"{path}/{name}[{index}]")
    return found


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [c["Next"] for c in state.get("Catch", [])]
    targets += [c["Next"] for c in state.get("Choices", [])]
    if "Default" in state:
        targets.append(state["Default"])
    return targets


def structural_problems(definition: dict[str, Any]) -> list[str]:
    problems = []
    for scope, body in scopes(definition):
        states = body["States"]
        if body["StartAt"] not in states:
            problems.append(f"{scope}: StartAt {body['StartAt']!r} is not a state")
        for name, state in states.items():
            for target in transitions(state):
                if target not in states:
                    problems.append(f"{scope}/{name}: transition to {target!r}, which is not a state of its scope")
            terminal = state["Type"] in ("Succeed", "Fail", "Choice") or state.get("End") is True
            if not terminal and "Next" not in state:
                problems.append(f"{scope}/{name}: neither Next nor End")
            if state["Type"] == "Task":
                if not state.get("Retry"):
                    problems.append(f"{scope}/{name}: Task without Retry")
                if not any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])):
                    problems.append(f"{scope}/{name}: Task without a Catch of States.ALL")
                for retrier in state.get("Retry", []):
                    if "States.ALL" in retrier["ErrorEquals"] or "States.TaskFailed" in retrier["ErrorEquals"]:
                        problems.append(f"{scope}/{name}: retries every error, not only transient ones")
        reachable, frontier = set(), [body["StartAt"]]
        while frontier:
            name = frontier.pop()
            if name in reachable or name not in states:
                continue
            reachable.add(name)
            frontier += transitions(states[name])
        for name in sorted(set(states) - reachable):
            problems.append(f"{scope}/{name}: unreachable")
    return problems


# ------------------------------------------------------------------------------------------ data flow
def _lookup(shape: Any, path: str) -> bool:
    node = shape
    for part in path.removeprefix("$.").split("."):
        if node == ANY:
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _get(shape: Any, path: str) -> Any:
    node = shape
    for part in path.removeprefix("$.").split("."):
        if node == ANY or not isinstance(node, dict) or part not in node:
            return ANY  # unresolved reads are reported where they are read
        node = node[part]
    return node


def _set(shape: Any, path: str, value: Any) -> Any:
    if path == "$":
        return value
    result = dict(shape) if isinstance(shape, dict) else {}
    node = result
    parts = path.removeprefix("$.").split(".")
    for part in parts[:-1]:
        node[part] = dict(node.get(part) or {}) if isinstance(node.get(part), dict) else {}
        node = node[part]
    node[parts[-1]] = value
    return result


def _references(value: Any) -> list[str]:
    """`$.x.y` paths (not `$$.` context paths) a Parameters/selector template or string reads."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                found += _PATH.findall(item) if not item.startswith("$$") else []
                if item == "$":
                    continue
            else:
                found += _references(item)
    elif isinstance(value, list):
        for item in value:
            found += _references(item)
    elif isinstance(value, str):
        found += _PATH.findall(value)
    return found


def _template_shape(template: dict[str, Any], source: Any) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            shape[key[:-2]] = _get(source, value) if isinstance(value, str) and _PATH.fullmatch(value) else ANY
        elif isinstance(value, dict):
            shape[key] = _template_shape(value, source)
        else:
            shape[key] = ANY
    return shape


def dataflow_problems(body: dict[str, Any], input_shape: Any, results: dict[str, Any], item_shapes: dict[str, Any],
                      scope: str = "<root>") -> list[str]:
    """Walk every path of a scope from its StartAt with the document shape each state receives; report every
    `$.path` read that the document cannot hold. `results[state]` is the shape a Task's result has (default ANY);
    `item_shapes[items_path]` the shape of one item of a Map's items."""
    problems: list[str] = []
    states = body["States"]
    seen: set[str] = set()
    frontier: list[tuple[str, Any]] = [(body["StartAt"], input_shape)]
    while frontier:
        name, shape = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        reads = _references(state.get("Parameters", {})) + _references(state.get("ItemSelector", {}))
        for key in ("ItemsPath", "SecondsPath", "CausePath", "ErrorPath", "InputPath"):
            if key in state:
                reads += _PATH.findall(state[key])
        for choice in state.get("Choices", []):
            for rule in [choice, *choice.get("Or", []), *choice.get("And", [])]:
                if "Variable" in rule:
                    reads.append(rule["Variable"])
        for path in reads:
            if not _lookup(shape, path):
                problems.append(f"{scope}/{name}: reads {path}, which the state's input does not have")
        kind = state["Type"]
        if kind == "Pass" and "Parameters" in state:
            result = _template_shape(state["Parameters"], shape)
        elif kind == "Pass" and "Result" in state:
            result = state["Result"]
        elif kind == "Task":
            result = results.get(name, ANY)
            if "ResultSelector" in state:
                result = _template_shape(state["ResultSelector"], result)
        elif kind == "Map":
            item = item_shapes.get(state.get("ItemsPath", "$"), ANY)
            processor = state.get("ItemProcessor") or state.get("Iterator")
            problems += dataflow_problems(processor, item, results, item_shapes, f"{scope}/{name}")
            result = ANY
        else:
            result = shape
        if kind in ("Pass", "Task", "Map", "Parallel"):
            result_path = state.get("ResultPath", "$")
            output = shape if result_path is None else _set(shape, result_path, result)
        else:
            output = shape
        if "OutputPath" in state:
            if not _lookup(output, state["OutputPath"]) and state["OutputPath"] != "$":
                problems.append(f"{scope}/{name}: OutputPath {state['OutputPath']} does not resolve")
        if "Next" in state:
            frontier.append((state["Next"], output))
        for choice in state.get("Choices", []):
            frontier.append((choice["Next"], output))
        if "Default" in state:
            frontier.append((state["Default"], output))
        for catcher in state.get("Catch", []):
            error = {"Error": ANY, "Cause": ANY}
            frontier.append((catcher["Next"], shape if catcher.get("ResultPath") is None and "ResultPath" in catcher
                             else _set(shape, catcher.get("ResultPath", "$"), error)))
    return problems
