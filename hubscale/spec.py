"""The ComputeCluster object: the one contract between the spawner and the controller.

Documents use camelCase (as in DESIGN.md); Python code uses snake_case attributes. Every problem
with a document surfaces as one ``SpecError`` naming the field, never as a pydantic error.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

import yaml
from kubernetes.utils.quantity import parse_quantity
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from hubscale.yaml_input import load_yaml, yaml_error_reason

API_VERSION = "hubscale.io/v1alpha1"
KIND = "ComputeCluster"
Engine = Literal["spark", "flink"]
Phase = Literal["Pending", "Ready", "Scaling", "Idle", "Error"]
# A status condition type: True while the work wants more workers than the cluster may have. The
# controller sets it; the notebook's kernels relay it (spawner.kernel_notice spells it alone).
CAPACITY_LIMITED = "CapacityLimited"
# A status condition type of a cluster whose head runs on demand: whether its master/JobManager
# runs, and why. The controller sets it; a kernel waiting for its head gives its message
# (spawner.head_wait spells it alone).
HEAD_RUNNING = "HeadRunning"
# A status condition type: True while the controller runs in dry-run mode (it decides and says what
# it would do, and resizes nothing); Events then say WouldScaleUp / WouldScaleDown.
DRY_RUN = "DryRun"

# The Kubernetes quantity grammar (apimachinery's resource.Quantity), as CRDs spell it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
NAME_PATTERN = r"^[^/\x00-\x1f\x7f-\x9f]*$"  # hub user and server names: no slash, no control char
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

MIB = 2**20
MIN_MEMORY_BYTES = 128 * MIB
MAX_MEMORY_BYTES = 2**40
MAX_IDLE_TIMEOUT_S = 7 * 24 * 3600
MAX_BUDGET_CORES = 100_000

_PATTERN_HELP = {
    QUANTITY_PATTERN: "not a Kubernetes quantity: {got}",
    NAME_PATTERN: "must not contain '/' or control characters (got {got})",
    DNS_LABEL_PATTERN: "must be a DNS-1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit (got {got})",
}
_TYPE_WORDS = {
    "int_type": "an integer",
    "string_type": "a string",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
}


class SpecError(ValueError):
    """A ComputeCluster document is wrong; ``field`` is a camelCase path such as spec.maxWorkers."""

    def __init__(self, field: str, reason: str, problems: list[tuple[str, str]] | None = None):
        self.field = field
        self.reason = reason
        self.problems = problems or [(field, reason)]
        super().__init__("; ".join(f"{f}: {r}" for f, r in self.problems))


class ClusterConflict(RuntimeError):
    """An object under the name a server's cluster needs belongs to another user or server (or
    cannot be read): the spawner neither adopts, changes nor deletes it. The message is for the
    user and names no one else; ``holder`` (its ``(owner, server)``, None when unreadable) is for
    the log."""

    def __init__(self, name: str, owner: str, server: str, holder: tuple[str, str] | None) -> None:
        self.name = name
        self.owner = owner
        self.server = server
        self.holder = holder
        super().__init__(
            f"the cluster name {name} is taken by a cluster that is not this server's; it was"
            " left as it is and your server was not started. Please tell your hub admin"
            " (the hub's log names both)."
        )


def holder(spec: object) -> tuple[str, str] | None:
    """The ``(owner, server)`` of a ComputeCluster's spec as a document holds it; None when it
    has no owner to tell."""
    if not isinstance(spec, Mapping):
        return None
    owner, server = spec.get("owner"), spec.get("server", "")
    if not isinstance(owner, str) or not isinstance(server, str):
        return None
    return owner, server


def check_holder(name: str, found: tuple[str, str] | None, owner: str, server: str) -> None:
    """Raise ``ClusterConflict`` unless the object found under ``name`` is ``owner``'s
    ``server``'s (``found``: its ``(owner, server)``, None when unreadable)."""
    if found != (owner, server):
        raise ClusterConflict(name, owner, server, found)


class _Model(BaseModel):
    """Strict, closed models whose constructor raises SpecError rather than pydantic's error."""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)
    _where: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise _spec_error(err, self._where) from None

    # As pydantic's RootModel does: this __init__ only renames errors, so validation skips it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


def _to_rfc3339(value: object) -> object:
    """YAML turns unquoted timestamps into datetimes; keep them as the RFC 3339 text they were."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and not _is_rfc3339(value):
        raise ValueError(f"must be an RFC 3339 time like 2024-05-01T12:00:00Z, got {_show(value)}")
    return value


def _is_rfc3339(text: str) -> bool:
    if not RFC3339.match(text):
        return False
    try:
        datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return True


def _policy_value(value: object) -> object:
    """A finite number or a list of them (as a tuple): the policy's memory must survive JSON."""
    items = value if isinstance(value, list | tuple) else [value]
    if not all(_is_number(item) for item in items):
        raise ValueError(f"must be a finite number or a list of them, got {_show(value)}")
    return tuple(items) if isinstance(value, list) else value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


Timestamp = Annotated[
    str, BeforeValidator(_to_rfc3339), Field(json_schema_extra={"format": "date-time"})
]
PolicyValue = Annotated[float | tuple[float, ...], BeforeValidator(_policy_value)]


def memory_in_range(memory: str) -> str:
    """``memory`` unchanged if it lies between 128Mi and 1Ti, else ValueError saying which."""
    size = parse_quantity(memory)
    if size <= 0:
        raise ValueError(f"must be positive, got {memory!r}")
    if size < MIN_MEMORY_BYTES:
        raise ValueError(f"must be at least 128Mi, got {memory!r}")
    if size > MAX_MEMORY_BYTES:
        raise ValueError(f"must be at most 1Ti, got {memory!r}")
    return memory


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity in bytes, rounded up as Kubernetes does."""
    return math.ceil(parse_quantity(quantity))


# Memory of a process or pod: a Kubernetes quantity between 128Mi and 1Ti.
Memory = Annotated[str, Field(pattern=QUANTITY_PATTERN), AfterValidator(memory_in_range)]


class WorkerSize(_Model):
    """The size of one Spark worker or Flink TaskManager."""

    model_config = ConfigDict(frozen=True)
    _where = ("spec", "worker")

    cores: int = Field(1, ge=1, le=64, description="CPU cores of one worker.")
    memory: Memory = Field(
        "2Gi", description="Memory of one worker, a Kubernetes quantity between 128Mi and 1Ti."
    )

    @property
    def memory_bytes(self) -> int:
        """Memory in bytes, rounded up as Kubernetes does."""
        return quantity_bytes(self.memory)

    @property
    def memory_mib(self) -> int:
        """Memory in whole MiB, rounded down (for JVM flags such as -Xmx)."""
        return self.memory_bytes // MIB


class ComputeClusterSpec(_Model):
    """What the spawner asks for: one engine's cluster for one user's server."""

    model_config = ConfigDict(frozen=True)
    _where = ("spec",)

    owner: str = Field(
        min_length=1, max_length=253, pattern=NAME_PATTERN, description="The hub user."
    )
    server: str = Field(
        "",
        max_length=253,
        pattern=NAME_PATTERN,
        description='The named server, or "" for the default server.',
    )
    engine: Engine = Field(description="Which engine the cluster runs: spark or flink.")
    min_workers: int = Field(
        0, alias="minWorkers", ge=0, description="Workers kept even when idle."
    )
    max_workers: int = Field(
        8, alias="maxWorkers", ge=0, le=1000, description="Most workers the autoscaler may add."
    )
    worker: WorkerSize = Field(WorkerSize(), description="Size of each worker.")
    idle_timeout_seconds: int = Field(
        600,
        alias="idleTimeoutSeconds",
        ge=0,
        le=MAX_IDLE_TIMEOUT_S,
        description="Scale to minWorkers after nothing has run for this long (at most 7 days).",
    )
    user_budget_cores: int | None = Field(
        None,
        alias="userBudgetCores",
        ge=1,
        le=MAX_BUDGET_CORES,
        description="Cores all of the owner's clusters' workers may hold together, across"
        " engines and servers (the smallest any of them says); left out: no per-user budget.",
    )
    head_on_demand: bool = Field(
        False,
        alias="headOnDemand",
        description="Run the master/JobManager only while the user's server has a kernel of this"
        " engine, workers or jobs (its activity metrics say so), then for idleTimeoutSeconds;"
        " false: it always runs.",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        if self.min_workers > self.max_workers:
            raise PydanticCustomError(
                "bounds",
                "must be at least minWorkers ({low}), got {high}",
                {"field": "maxWorkers", "low": self.min_workers, "high": self.max_workers},
            )
        return self

    def to_document(self) -> dict[str, Any]:
        """The camelCase mapping, as it appears under ``spec:`` (unset optional fields left out;
        ``headOnDemand`` only when on, so a document written before it existed round-trips
        unchanged)."""
        document = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"head_on_demand"}
        )
        return document | ({"headOnDemand": True} if self.head_on_demand else {})


class Condition(_Model):
    """A Kubernetes status condition."""

    _where = ("status", "conditions")

    type: str = Field(min_length=1, description="Condition type, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field("", description="One CamelCase word for why.")
    message: str = Field("", description="Why, for a person.")
    last_transition_time: Timestamp = Field(
        alias="lastTransitionTime", description="When status last changed (RFC 3339)."
    )


class ComputeClusterStatus(_Model):
    """What the controller observed and decided; written only by the controller."""

    _where = ("status",)

    workers: int = Field(0, ge=0, description="Workers observed running.")
    desired: int = Field(0, ge=0, description="Workers the autoscaler wants.")
    phase: Phase = Field("Pending", description="Pending, Ready, Scaling, Idle or Error.")
    last_scale_time: Timestamp | None = Field(
        None, alias="lastScaleTime", description="When the cluster was last resized (RFC 3339)."
    )
    last_scale_reason: str = Field(
        "",
        alias="lastScaleReason",
        description="Why the cluster was last resized: the reason that moved desired.",
    )
    reason: str = Field("", description="Why the last decision was taken.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Kubernetes conditions, one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    policy_state: dict[str, PolicyValue] = Field(
        default_factory=dict,
        alias="policyState",
        description="The scaling policy's memory (numbers or lists of numbers), kept for restarts.",
    )


class ObjectMeta(_Model):
    """Kubernetes object metadata; keys Kubernetes adds (uid, resourceVersion, ...) are kept."""

    model_config = ConfigDict(extra="allow")
    _where = ("metadata",)

    name: str = Field(max_length=63, pattern=DNS_LABEL_PATTERN, description="The object's name.")
    namespace: str | None = Field(
        None, max_length=63, pattern=DNS_LABEL_PATTERN, description="The object's namespace."
    )
    labels: dict[str, str] | None = Field(None, description="Kubernetes labels.")
    annotations: dict[str, str] | None = Field(None, description="Kubernetes annotations.")


class ComputeCluster(_Model):
    """A user's Spark or Flink cluster, sized by the autoscaler."""

    api_version: Literal["hubscale.io/v1alpha1"] = Field(API_VERSION, alias="apiVersion")
    kind: Literal["ComputeCluster"] = KIND
    metadata: ObjectMeta
    spec: ComputeClusterSpec
    status: ComputeClusterStatus | None = None

    def to_document(self) -> dict[str, Any]:
        """The whole object as a camelCase mapping (unset optional fields left out)."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {**document, "spec": self.spec.to_document()}


def parse_spec(data: Mapping[str, Any]) -> ComputeClusterSpec:
    """Validate the ``spec`` part of a document; problems are named ``spec.<field>``."""
    try:
        return ComputeClusterSpec.model_validate(_plain(data))
    except ValidationError as err:
        raise _spec_error(err, ("spec",)) from None


def parse_cluster(data: Mapping[str, Any]) -> ComputeCluster:
    """Validate a whole ComputeCluster document."""
    try:
        return ComputeCluster.model_validate(_plain(data))
    except ValidationError as err:
        raise _spec_error(err, ()) from None


def load_cluster_yaml(text: str) -> ComputeCluster:
    """Parse and validate one ComputeCluster YAML document."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise SpecError("<document>", yaml_error_reason(err)) from None
    if not isinstance(data, Mapping):
        raise SpecError("<document>", f"must be a mapping, got {show_typed(data)}")
    return parse_cluster(data)


def cluster_to_yaml(cluster: ComputeCluster) -> str:
    """The YAML document for a cluster, keys in declaration order."""
    return yaml.safe_dump(cluster.to_document(), sort_keys=False)


def openapi_schema() -> dict[str, Any]:
    """The CRD's structural ``openAPIV3Schema``, generated from the models."""
    parts = {"spec": ComputeClusterSpec, "status": ComputeClusterStatus}
    properties = {}
    for name, model in parts.items():
        schema = model.model_json_schema(by_alias=True)
        properties[name] = _openapi(schema, schema.get("$defs", {}))
    return {
        "type": "object",
        "description": ComputeCluster.__doc__,
        "properties": properties,
        "required": ["spec"],
    }


_OPENAPI_KEYS = {
    "type",
    "description",
    "required",
    "enum",
    "default",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
}


def _openapi(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One JSON schema node as OpenAPI v3 structural schema: refs inlined, nulls as nullable."""
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **node}
        del node["$ref"]
    if "anyOf" in node:
        rest = {k: v for k, v in node.items() if k != "anyOf" and (k, v) != ("default", None)}
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(options) == 1:
            nullable = {"nullable": True} if len(options) < len(node["anyOf"]) else {}
            return _openapi({**options[0], **rest}, defs) | nullable
        return {"x-kubernetes-preserve-unknown-fields": True} | _openapi(rest, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs") or (key == "additionalProperties" and value is False):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _openapi(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _openapi(value, defs)
        elif key in _OPENAPI_KEYS or key.startswith("x-kubernetes-"):
            out[key] = value
        else:
            raise ValueError(f"no OpenAPI v3 form for JSON schema key {key!r}")
    return out


_ALIASES = {
    name: field.alias
    for model in (WorkerSize, ComputeClusterSpec, Condition, ComputeClusterStatus, ComputeCluster)
    for name, field in model.model_fields.items()
    if field.alias
}


def _spec_error(err: ValidationError, where: tuple[str, ...]) -> SpecError:
    """Our error for pydantic's: each problem as (dotted camelCase path, reason for a person)."""
    problems = []
    for detail in err.errors():
        loc = (*where, *detail["loc"])
        if "field" in detail.get("ctx", {}):
            loc = (*loc, detail["ctx"]["field"])
        problems.append((error_path(loc), validation_reason(detail)))
    return SpecError(*problems[0], problems)


def error_path(loc: tuple[str | int, ...], aliases: Mapping[str, str] | None = None) -> str:
    """pydantic's error location as a dotted path, e.g. spec.worker.memory or items[0].name."""
    names = _ALIASES if aliases is None else aliases
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + names.get(part, part)
    return path or "<document>"


def validation_reason(detail: ErrorDetails) -> str:
    kind, ctx, got = detail["type"], detail.get("ctx", {}), detail["input"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {show_typed(got)}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", ctx["expected"])
        one_of = allowed[0] if len(allowed) == 1 else "one of " + ", ".join(allowed)
        return f"must be {one_of} (got {_show(got)})"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, got {_show(got)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}, got {_show(got)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters, got {len(got)}"
    if kind == "string_pattern_mismatch" and ctx["pattern"] in _PATTERN_HELP:
        return _PATTERN_HELP[ctx["pattern"]].format(got=_show(got))
    if kind == "value_error":
        return str(ctx["error"])
    return detail["msg"]


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 3, 200, 200


def _show(value: object) -> str:
    """A value as the person wrote it in YAML, cut short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = _SHORT_REPR.repr(value)  # bounded work for any size or depth, then cut
    return text if len(text) <= 60 else text[:57] + "..."


def show_typed(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {_show(value)}"


def _plain(data: object) -> object:
    """A Mapping as a dict, since strict validation wants dicts."""
    return dict(data) if isinstance(data, Mapping) and not isinstance(data, dict) else data
