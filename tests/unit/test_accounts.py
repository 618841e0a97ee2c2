"""Account names of the multi-user local mode: valid for useradd, short, one per hub user."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.backends.local.accounts import SystemAccounts
from autoscaler.controller.wiring import system_accounts
from hubscale.accounts import MAX_ACCOUNT_NAME_LENGTH, account_mode, account_name

USERADD_NAME = re.compile(r"^[a-z][-a-z0-9_]*$")  # Debian's default NAME_REGEX, without the $


@given(st.text(max_size=300))
def test_every_user_name_maps_to_a_valid_account_name(user: str):
    name = account_name(user)
    assert USERADD_NAME.match(name) and len(name) <= MAX_ACCOUNT_NAME_LENGTH


@given(st.text(max_size=80), st.text(max_size=80))
def test_two_user_names_never_share_an_account(first: str, second: str):
    assert (account_name(first) == account_name(second)) == (first == second)


def test_a_name_spelled_like_anothers_account_gets_its_own():
    jane = account_name("jane doe")
    assert jane.startswith("hs-jane-doe-")
    assert account_name(jane) != jane
    assert account_name(jane.removeprefix("hs-")) != jane


def test_readable_part_folds_accents_and_a_long_name_is_cut_before_the_hash():
    assert account_name("Zoë").startswith("hs-zoe-")
    assert re.fullmatch(r"hs-[0-9a-f]{16}", account_name("日本"))
    long = account_name("a" * 200)
    assert len(long) == MAX_ACCOUNT_NAME_LENGTH and long.startswith("hs-aaaaaaaaaaaa-")


def test_a_prefix_useradd_would_refuse_is_an_error():
    with pytest.raises(ValueError, match="prefix"):
        account_name("jane", "Hub_")


def test_account_mode_names_the_choices():
    assert account_mode("system") == "system"
    with pytest.raises(ValueError, match="shared, system"):
        account_mode("root")


def test_the_controller_runs_clusters_as_their_owners_accounts_only_when_told(monkeypatch):
    monkeypatch.delenv("HUBSCALE_ACCOUNTS", raising=False)
    assert system_accounts() is None
    monkeypatch.setenv("HUBSCALE_ACCOUNTS", "system")
    assert system_accounts() == SystemAccounts()
    monkeypatch.setenv("HUBSCALE_ACCOUNTS", "nobody")
    with pytest.raises(ValueError, match="shared, system"):
        system_accounts()
