"""Pieces of the Kubernetes REST protocol the API-server double needs: errors as Status bodies,
merge and JSON patches, label and field selectors. Written from the API conventions, not copied."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

Json = dict[str, Any]


class ApiError(Exception):
    """A failed request, answered with a ``Status`` body as the real API server does."""

    def __init__(self, code: int, reason: str, message: str, details: Json | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> Json:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def not_found(kind: str, group: str, name: str) -> ApiError:
    resource = f"{kind.lower()}s.{group}" if group else f"{kind.lower()}s"
    return ApiError(
        404,
        "NotFound",
        f'{resource} "{name}" not found',
        {"name": name, "group": group, "kind": kind.lower() + "s"},
    )


def conflict(kind: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.lower()}s "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": kind.lower() + "s"},
    )


def already_exists(kind: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind.lower()}s "{name}" already exists',
        {"name": name, "group": group, "kind": kind.lower() + "s"},
    )


def gone(resource_version: str) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {resource_version}")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Json, operations: Any) -> Json:
    """RFC 6902 JSON patch: add, remove, replace and test (what clients send)."""
    if not isinstance(operations, list):
        raise bad_request("json patch body must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parent, key = _pointer_parent(document, path)
        if op == "test":
            if _child(parent, key) != operation.get("value"):
                raise ApiError(422, "Invalid", f"test operation failed at {path}")
        elif op == "remove":
            _child(parent, key)
            del parent[int(key) if isinstance(parent, list) else key]
        elif op in ("add", "replace"):
            value = copy.deepcopy(operation.get("value"))
            if isinstance(parent, list):
                index = len(parent) if key == "-" else int(key)
                if op == "add":
                    parent.insert(index, value)
                else:
                    parent[index] = value
            else:
                if op == "replace":
                    _child(parent, key)
                parent[key] = value
        else:
            raise bad_request(f"json patch operation {op!r} is not supported by the double")
    return document


def _pointer_parent(document: Json, path: str) -> tuple[Any, str]:
    if not path.startswith("/"):
        raise bad_request(f"json patch path {path!r} must start with '/'")
    parts = [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]
    node: Any = document
    for part in parts[:-1]:
        node = _child(node, part)
    return node, parts[-1]


def _child(node: Any, key: str) -> Any:
    try:
        return node[int(key)] if isinstance(node, list) else node[key]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"json patch: no such path element {key!r}") from None


Requirement = Callable[[Mapping[str, str]], bool]
_SET_TERM = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY_TERM = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w.-]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")


def label_selector(text: str | None) -> Requirement:
    """A label selector (equality and set-based) as a predicate on a label map."""
    requirements = [_requirement(term) for term in _terms(text or "")]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def _terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for character in text:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += character
    return [term for term in [*terms, current] if term.strip()]


def _requirement(term: str) -> Requirement:
    if match := _SET_TERM.match(term):
        key, operator, values = match.groups()
        allowed = {value.strip() for value in values.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if match := _EQUALITY_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_TERM.match(term):
        negated, key = match.groups()
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    raise bad_request(f"unable to parse requirement: {term!r}")


# The field selectors our clients use: names, and KubeSpawner's event reflector (Pod events).
SELECTABLE_FIELDS = ("metadata.name", "metadata.namespace", "involvedObject.kind")


def field_selector(text: str | None) -> Callable[[Json], bool]:
    """Equality on ``SELECTABLE_FIELDS``; any other field is refused as the API server does."""
    wanted: list[tuple[list[str], str]] = []
    for term in _terms(text or ""):
        field, _, value = term.strip().partition("=")
        if field not in SELECTABLE_FIELDS:
            raise bad_request(f"field selector not supported by the double: {term}")
        wanted.append((field.split("."), value.removeprefix("=")))
    return lambda obj: all(_field(obj, path) == value for path, value in wanted)


def _field(obj: Json, path: list[str]) -> Any:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node
