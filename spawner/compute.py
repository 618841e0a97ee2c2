"""What both spawners share: user_options checked against a profile, and the ComputeClusters.

Pure functions of plain arguments; the local and Kubernetes spawners only add the I/O.
"""

from __future__ import annotations

import html
import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubscale.names import (
    ENGINE_LABEL,
    MAX_CLUSTER_NAME_LENGTH,
    NAME_HASH_LENGTH,
    PROFILE_LABEL,
    SERVER_LABEL,
    USER_LABEL,
    ascii_fold,
    digest,
    label_value,
    user_label,
)
from hubscale.spec import API_VERSION, KIND, ComputeCluster, Engine, parse_cluster, show_typed
from spawner.profiles import ENGINES, OPTIONS, Profile, Profiles

PROFILE_KEY = "profile"
FORM_INTEGER_DIGITS = 18  # far above any bound; int() itself refuses past 4,300 digits
_FORM_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_FORM_TEXT = reprlib.Repr()  # what a message quotes of a field: 60 characters at most
_FORM_TEXT.maxstring = 60


class UserOptionsError(ValueError):
    """A user_options value the chosen profile does not allow; shown to the user as is."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"{option}: {message}")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A checked choice: the profile and the value of every option it lets the user set."""

    profile: Profile
    options: Mapping[str, int]
    budget_cores: int | None = None  # the user's, across engines and servers (spawner.budgets)


def resolve_options(profiles: Profiles, user_options: Mapping[str, object]) -> Resolved:
    """Check user_options (``profile`` plus the profile's options); the first problem raises."""
    if not isinstance(user_options, Mapping):
        raise UserOptionsError("user_options", f"must be a mapping, got {show_typed(user_options)}")
    profile = _chosen_profile(profiles, user_options)
    options = {name: profile.default_value(name) for name in profile.allowed_options()}
    for key, value in user_options.items():
        if key != PROFILE_KEY:
            options[str(key)] = _checked_value(profile, str(key), value)
    return Resolved(profile, options)


def _chosen_profile(profiles: Profiles, user_options: Mapping[str, object]) -> Profile:
    if PROFILE_KEY not in user_options:
        return profiles.default
    name = user_options[PROFILE_KEY]
    if not isinstance(name, str):
        raise UserOptionsError(PROFILE_KEY, f"must be a string, got {show_typed(name)}")
    profile = profiles.get(name)
    if profile is None:
        choices = ", ".join(profiles.names)
        raise UserOptionsError(PROFILE_KEY, f"unknown profile {name!r} (choose one of {choices})")
    return profile


def _checked_value(profile: Profile, option: str, value: object) -> int:
    if option not in OPTIONS:
        known = ", ".join([PROFILE_KEY, *OPTIONS])
        raise UserOptionsError(option, f"unknown option (known: {known})")
    bounds = profile.allowed_options().get(option)
    if bounds is None:
        raise UserOptionsError(option, f"cannot be changed in profile {profile.name!r}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise UserOptionsError(option, f"must be an integer, got {show_typed(value)}")
    if value < bounds.min:
        message = f"must be at least {bounds.min} in profile {profile.name!r}, got {value}"
        raise UserOptionsError(option, message)
    if value > bounds.max:
        message = f"must be at most {bounds.max} in profile {profile.name!r}, got {value}"
        raise UserOptionsError(option, message)
    return value


def options_from_form(formdata: Mapping[str, list[str]]) -> dict[str, object]:
    """user_options from the spawn form: the chosen profile's fields, numbers converted.

    Fields named ``<profile>.<option>`` belong to one profile; those of other profiles are
    dropped. Empty fields mean "the profile's value"; fields starting with ``_`` (``_xsrf``) are
    the hub's. Anything else is passed on for ``resolve_options`` to reject by name.
    """
    fields = {key: _single(key, values) for key, values in formdata.items() if key[:1] != "_"}
    options: dict[str, object] = {}
    profile = fields.pop(PROFILE_KEY, None)
    if profile is not None:
        options[PROFILE_KEY] = profile.strip()
    for key, text in fields.items():
        owner, dot, option = key.rpartition(".")
        if not dot:
            option = key
        elif profile is None:
            raise UserOptionsError(PROFILE_KEY, f"must be chosen to set {key!r}")
        elif owner != options[PROFILE_KEY]:
            continue
        if not text.strip():
            continue
        if option in options:
            raise UserOptionsError(option, "was given more than once")
        options[option] = _form_integer(option, text) if option in OPTIONS else text
    return options


def _single(key: str, values: list[str]) -> str:
    if len(values) > 1:
        raise UserOptionsError(key, "was given more than once")
    return values[0] if values else ""


def _form_integer(option: str, text: str) -> int:
    if not _FORM_INTEGER.match(text.strip()):
        raise UserOptionsError(option, f"must be a whole number, got {_FORM_TEXT.repr(text)}")
    if len(text.strip().lstrip("+-")) > FORM_INTEGER_DIGITS:
        message = f"must be a whole number of at most {FORM_INTEGER_DIGITS} digits"
        raise UserOptionsError(option, f"{message}, got {len(text.strip())} characters")
    return int(text)


def cluster_name(user: str, server: str, engine: Engine) -> str:
    """A DNS label (also DNS-1035: starts with a letter), readable and unique per triple.

    ``<user>[-<server>]-<engine>-<hash>``: the readable part is lowercased and cut to fit (51
    characters in all, so each of the cluster's objects is ``<name>-<role>``); the hash is 64
    bits of the exact triple, so names that escape alike (``Alice``, ``alice``) still differ and
    no one searches out a user or server name whose cluster name is another's (32 bits: hours).
    A name taken all the same is never adopted: the spawners check the owner.
    """
    suffix = f"-{engine}-{digest(json.dumps([user, server, engine]), NAME_HASH_LENGTH)}"
    readable = "-".join(part for part in (_dns_slug(user), _dns_slug(server)) if part)
    if readable[:1].isdigit():
        readable = f"u-{readable}"
    readable = readable[: MAX_CLUSTER_NAME_LENGTH - len(suffix)].rstrip("-")
    return f"{readable}{suffix}" if readable else suffix[1:]


def _dns_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")


def compute_clusters(
    user: str, server: str, resolved: Resolved, head_on_demand: bool = False
) -> list[ComputeCluster]:
    """The user's Spark and Flink ComputeCluster objects (no namespace: the caller's choice);
    ``head_on_demand``: their heads run only while the server's activity asks for them."""
    return [_cluster(user, server, engine, resolved, head_on_demand) for engine in ENGINES]


def _cluster(
    user: str, server: str, engine: Engine, resolved: Resolved, head_on_demand: bool
) -> ComputeCluster:
    spec = resolved.profile.spec_document(engine, resolved.options)
    if head_on_demand:
        spec = {**spec, "headOnDemand": True}
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": cluster_name(user, server, engine),
            "labels": {
                USER_LABEL: user_label(user),
                SERVER_LABEL: label_value(server),
                ENGINE_LABEL: engine,
                PROFILE_LABEL: resolved.profile.name,
            },
            "annotations": {USER_LABEL: user, SERVER_LABEL: server},
        },
        "spec": {"owner": user, "server": server, "engine": engine, **spec},
    }
    if resolved.budget_cores is not None:
        document["spec"]["userBudgetCores"] = resolved.budget_cores
    return parse_cluster(document)


def options_form(profiles: Profiles) -> str:
    """The spawn form's HTML fragment: one radio per profile, then its option inputs."""
    default = profiles.default.name
    blocks = [_profile_html(profile, profile.name == default) for profile in profiles.profiles]
    return '<div class="hubscale-profiles">\n' + "\n".join(blocks) + "\n</div>\n"


def _profile_html(profile: Profile, checked: bool) -> str:
    radio_id = f"hubscale-profile-{profile.name}"
    lines = [
        '<div class="hubscale-profile form-group">',
        f'  <input type="radio" name="{PROFILE_KEY}" id="{_e(radio_id)}" value="{_e(profile.name)}"'
        + (" checked>" if checked else ">"),
        f'  <label for="{_e(radio_id)}"><strong>{_e(profile.display_name)}</strong></label>',
        f'  <p class="help-block">{_e(profile.description)}</p>',
    ]
    for option, bounds in profile.allowed_options().items():
        field = f"{profile.name}.{option}"
        field_id = f"hubscale-{profile.name}-{option}"
        lines += [
            f'  <label for="{_e(field_id)}">{_e(OPTIONS[option].label)}</label>',
            f'  <input type="number" class="form-control" name="{_e(field)}" id="{_e(field_id)}"'
            f' min="{bounds.min}" max="{bounds.max}" step="1"'
            f' value="{profile.default_value(option)}">',
        ]
    return "\n".join([*lines, "</div>"])


def _e(text: str) -> str:
    return html.escape(text, quote=True)
