"""The spawn options both spawners share: the profiles form, user_options checked against the
profiles (a bad one is an HTTP 400 naming it, before anything is created), the cluster names.

``ProfileChoice`` is a mixin listed before the JupyterHub spawner class it extends, so its hooks
win over that class's defaults: ``class LocalSpawner(ProfileChoice, SimpleLocalProcessSpawner)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SpawnException
from traitlets import Dict, Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from hubscale_nb.error_paths import redact_paths
from spawner.budgets import user_budget
from spawner.compute import (
    Resolved,
    UserOptionsError,
    cluster_name,
    options_form,
    options_from_form,
    resolve_options,
)
from spawner.profiles import ENGINES, Profiles, load_profiles

DEFAULT_PROFILES = Path(__file__).resolve().parents[1] / "hub_config" / "profiles.yaml"


@cache
def cached_profiles(path: str) -> Profiles:
    """The profiles file, read once per process (the hub restarts for a new one)."""
    return load_profiles(Path(path))


def bad_options(error: UserOptionsError) -> SpawnException:
    """The user's mistake as JupyterHub shows it: HTTP 400 via the API, a message on the form."""
    message = f"Invalid user_options: {error}"
    exception = SpawnException(message, reason="user_options", status_code=400)
    exception.jupyterhub_message = message  # the form page shows this text as is
    return exception


def clusters_failed(error: Exception) -> SpawnException:
    """The user's clusters did not come up: HTTP 503 with the reason, shown without the
    machine's absolute paths (the hub's log has them)."""
    exception = SpawnException(str(error), reason="clusters", status_code=503)
    exception.jupyterhub_message = redact_paths(str(error))
    return exception


def shown_without_paths(error: BaseException) -> BaseException:
    """``error`` as the hub shows it to the user (pages, spawn progress): its message with
    absolute paths cut (``hubscale_nb.error_paths``); the hub's log keeps the whole error."""
    message = getattr(error, "jupyterhub_message", None) or str(error)
    error.jupyterhub_message = redact_paths(message)  # type: ignore[attr-defined]
    return error


def form_options(formdata: dict[str, list[str]]) -> dict[str, object]:
    """The spawn form's fields as typed user_options (JupyterHub's ``options_from_form`` hook)."""
    try:
        return options_from_form(formdata)
    except UserOptionsError as error:
        raise bad_options(error) from None


def _apply_profile(spawner: ProfileChoice, user_options: dict[str, Any]) -> None:
    """JupyterHub's ``apply_user_options`` hook: runs before start, for the form and the API."""
    spawner.apply_profile(user_options)


class ProfileChoice(LoggingConfigurable):
    """The profile a user picks, checked by ``spawner.compute``; mixed into a Spawner class."""

    profiles_file = Unicode(
        str(DEFAULT_PROFILES), config=True, help="The profiles users choose from."
    )
    clusters_timeout_s = Float(
        180.0, config=True, help="How long a start waits for the user's clusters to come up."
    )
    cluster_error_grace_s = Float(
        15.0,
        config=True,
        help="How long a cluster may stay in phase Error before the start gives up on it.",
    )

    group_budget_cores = Dict(
        value_trait=Int(min=1),
        key_trait=Unicode(),
        config=True,
        help="Group -> cores a member's clusters may hold together (the smallest of the"
        " profile's budgetCores and the member's groups' applies).",
    )

    resolved: Resolved | None = None  # set by the apply_user_options hook before each start

    @default("options_form")
    def _default_options_form(self) -> str:
        return options_form(self.profiles)

    @default("options_from_form")
    def _default_options_from_form(self) -> Callable[..., object]:
        return form_options

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Callable[..., object]:
        return _apply_profile

    @property
    def profiles(self) -> Profiles:
        return cached_profiles(self.profiles_file)

    @property
    def cluster_names(self) -> dict[str, str]:
        """Engine -> the name of this server's cluster (named servers each have their own)."""
        user: str = self.user.name  # type: ignore[attr-defined] - the Spawner's
        server: str = self.name  # type: ignore[attr-defined]
        return {engine: cluster_name(user, server, engine) for engine in ENGINES}

    def apply_profile(self, user_options: Mapping[str, object] | None) -> Resolved:
        """Check user_options against the profiles; a bad option fails the spawn with a 400."""
        try:
            resolved = resolve_options(self.profiles, user_options or {})
        except UserOptionsError as error:
            raise bad_options(error) from None
        groups = [group.name for group in getattr(self.user, "groups", [])]  # type: ignore[attr-defined]
        budget = user_budget(resolved.profile.budget_cores, groups, self.group_budget_cores)
        self.resolved = replace(resolved, budget_cores=budget)
        return self.resolved
