"""The profiles file: what a user may pick at spawn time and within which bounds.

Keys are camelCase like the ComputeCluster document, except the user option names, which are
snake_case as the user sends them. Every problem surfaces as one ``ProfileError`` naming the key
path (``profiles[1].spark.maxWorkers``), never as a pydantic error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from hubscale.spec import (
    DNS_LABEL_PATTERN,
    MAX_BUDGET_CORES,
    Engine,
    Memory,
    SpecError,
    error_path,
    parse_spec,
    quantity_bytes,
    show_typed,
    validation_reason,
)
from hubscale.yaml_input import yaml_error_reason

ENGINES: tuple[Engine, ...] = get_args(Engine)
NOTEBOOK_TRAITS = ("cpu_guarantee", "cpu_limit", "mem_guarantee", "mem_limit")  # the Spawner's


@dataclass(frozen=True, slots=True)
class Option:
    """A user option: its label on the spawn form and the spec field it sets."""

    label: str
    field: str  # camelCase ComputeCluster spec field
    engines: tuple[Engine, ...]


OPTIONS: dict[str, Option] = {
    "spark_max_workers": Option("Spark workers, at most", "maxWorkers", ("spark",)),
    "flink_max_workers": Option("Flink TaskManagers, at most", "maxWorkers", ("flink",)),
    "idle_timeout_seconds": Option(
        "Idle timeout in seconds", "idleTimeoutSeconds", ("spark", "flink")
    ),
}


class ProfileError(ValueError):
    """The profiles file is wrong; ``field`` is a key path such as profiles[0].spark.maxWorkers."""

    def __init__(
        self,
        field: str,
        reason: str,
        problems: list[tuple[str, str]] | None = None,
        source: str | None = None,
    ) -> None:
        self.field = field
        self.reason = reason
        self.problems = problems or [(field, reason)]
        self.source = source
        text = "; ".join(f"{f}: {r}" for f, r in self.problems)
        super().__init__(f"{source}: {text}" if source else text)


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Worker(_Model):
    """The size of one worker; limits are the ComputeCluster spec's."""

    cores: int
    memory: str


class NotebookSize(_Model):
    """The notebook server's size (the Spark driver runs in it): reserved and at most, both."""

    cores: float = Field(ge=0.001, le=64)  # Kubernetes counts CPU in millicores
    memory: Memory

    def spawner_traits(self) -> dict[str, float | int]:
        """As JupyterHub Spawner's ``NOTEBOOK_TRAITS`` (cores, bytes): request = limit."""
        cores, memory_bytes = float(self.cores), quantity_bytes(self.memory)
        return dict(zip(NOTEBOOK_TRAITS, (cores, cores, memory_bytes, memory_bytes), strict=True))


class ClusterDefaults(_Model):
    """One engine's cluster in a profile, in the ComputeCluster spec's own words."""

    min_workers: int = Field(0, alias="minWorkers")
    max_workers: int = Field(alias="maxWorkers")
    worker: Worker


class OptionBounds(_Model):
    """The inclusive range a user may choose an option's value from."""

    min: int
    max: int

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.min > self.max:
            raise _problem("max", f"must be at least min ({self.min}), got {self.max}")
        return self


class UserOptionBounds(_Model):
    """The options a user may set in one profile; an option left out is fixed."""

    spark_max_workers: OptionBounds | None = None
    flink_max_workers: OptionBounds | None = None
    idle_timeout_seconds: OptionBounds | None = None


class Profile(_Model):
    """One choice on the spawn page: a Spark and a Flink cluster, optionally the notebook server's
    size, plus what the user may change."""

    name: str = Field(max_length=63, pattern=DNS_LABEL_PATTERN)
    display_name: str = Field(alias="displayName", min_length=1)
    description: str = ""
    default: bool = False
    idle_timeout_seconds: int = Field(600, alias="idleTimeoutSeconds")
    spark: ClusterDefaults
    flink: ClusterDefaults
    notebook: NotebookSize | None = None  # None: the hub's configured size
    budget_cores: int | None = Field(None, alias="budgetCores", ge=1, le=MAX_BUDGET_CORES)
    user_options: UserOptionBounds = Field(UserOptionBounds(), alias="userOptions")

    @model_validator(mode="after")
    def _makes_valid_specs(self) -> Self:
        for engine in ENGINES:
            _check_spec(self, engine, {}, lambda field, e=engine: _profile_field(field, e))
        for option, bounds in self.allowed_options().items():
            for end in ("min", "max"):
                value = getattr(bounds, end)
                where = f"userOptions.{option}.{end}"
                for engine in OPTIONS[option].engines:
                    _check_spec(self, engine, {option: value}, lambda _field, w=where: w)
            default = self.default_value(option)
            if not bounds.min <= default <= bounds.max:
                raise _problem(
                    f"userOptions.{option}",
                    f"must include the profile's own value {default}, "
                    f"got {bounds.min}..{bounds.max}",
                )
        return self

    def allowed_options(self) -> dict[str, OptionBounds]:
        """The options a user may set in this profile, with their bounds."""
        bounds = {name: getattr(self.user_options, name) for name in OPTIONS}
        return {name: value for name, value in bounds.items() if value is not None}

    def default_value(self, option: str) -> int:
        """The profile's own value of an option: what a user gets without setting it."""
        target = OPTIONS[option]
        return self.spec_document(target.engines[0])[target.field]

    def spec_document(
        self, engine: Engine, options: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """The camelCase spec of one engine's cluster (no owner/server/engine), options applied."""
        cluster: ClusterDefaults = getattr(self, engine)
        document: dict[str, Any] = {
            "minWorkers": cluster.min_workers,
            "maxWorkers": cluster.max_workers,
            "worker": {"cores": cluster.worker.cores, "memory": cluster.worker.memory},
            "idleTimeoutSeconds": self.idle_timeout_seconds,
        }
        for name, value in (options or {}).items():
            if engine in OPTIONS[name].engines:
                document[OPTIONS[name].field] = value
        return document


class Profiles(_Model):
    """The whole profiles file."""

    profiles: list[Profile]

    @model_validator(mode="after")
    def _names_unique_one_default(self) -> Self:
        if not self.profiles:
            raise _problem("profiles", "must list at least one profile")
        first_index: dict[str, int] = {}
        default_index: int | None = None
        for index, profile in enumerate(self.profiles):
            if profile.name in first_index:
                raise _problem(
                    f"profiles[{index}].name",
                    f"duplicate name {profile.name!r}, also profiles[{first_index[profile.name]}]",
                )
            first_index[profile.name] = index
            if profile.default and default_index is not None:
                raise _problem(
                    f"profiles[{index}].default",
                    f"only one profile may be the default, profiles[{default_index}] already is",
                )
            if profile.default:
                default_index = index
        return self

    @property
    def default(self) -> Profile:
        """The profile marked default, else the first."""
        return next((p for p in self.profiles if p.default), self.profiles[0])

    @property
    def names(self) -> list[str]:
        """Profile names in file order."""
        return [profile.name for profile in self.profiles]

    def get(self, name: str) -> Profile | None:
        """The profile called ``name``, or None."""
        return next((p for p in self.profiles if p.name == name), None)


def load_profiles(source: Path | str) -> Profiles:
    """Read a profiles file (a ``Path``) or parse its YAML text (a ``str``)."""
    where = str(source) if isinstance(source, Path) else None
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as err:
            raise ProfileError("<file>", f"cannot read: {err.strerror}", source=where) from None
    else:
        text = source
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProfileError("<document>", yaml_error_reason(err), source=where) from None
    if not isinstance(data, Mapping):
        hint = " (pass a pathlib.Path to read a file)" if isinstance(data, str) else ""
        reason = f"must be a mapping, got {show_typed(data)}{hint}"
        raise ProfileError("<document>", reason, source=where)
    try:
        return Profiles.model_validate(dict(data))
    except ValidationError as err:
        raise _profile_error(err, where) from None


def _check_spec(
    profile: Profile, engine: Engine, options: Mapping[str, int], where: Callable[[str], str]
) -> None:
    """Raise a problem at ``where(spec field)`` if the profile gives an invalid ComputeCluster."""
    document = {"owner": "profile-check", "engine": engine}
    try:
        parse_spec(document | profile.spec_document(engine, options))
    except SpecError as err:
        raise _problem(where(err.field), err.reason) from None


def _profile_field(spec_field: str, engine: Engine) -> str:
    """Where a spec field lives in a profile: idleTimeoutSeconds is shared, the rest per engine."""
    field = spec_field.removeprefix("spec.")
    return field if field == "idleTimeoutSeconds" else f"{engine}.{field}"


def _problem(field: str, reason: str) -> PydanticCustomError:
    """A validator error that names a key below the model being validated."""
    return PydanticCustomError("profile", "{reason}", {"field": field, "reason": reason})


def _profile_error(err: ValidationError, source: str | None) -> ProfileError:
    """Our error for pydantic's: each problem as (key path, reason for a person)."""
    problems = []
    for detail in err.errors():
        loc = detail["loc"]
        if "field" in detail.get("ctx", {}):
            loc = (*loc, detail["ctx"]["field"])
        reason = validation_reason(detail)
        if detail["type"] == "extra_forbidden" and loc[-2:-1] == ("userOptions",):
            reason = f"unknown user option (known: {', '.join(OPTIONS)})"
        problems.append((error_path(loc, aliases={}), reason))  # keys as in the file
    return ProfileError(*problems[0], problems, source=source)
