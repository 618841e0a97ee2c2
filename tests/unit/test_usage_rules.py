"""The usage service's rules and reports, without a hub: who reads whose data, what is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from tornado import web

from usage.access import Forbidden, Scope, requested_scope
from usage.accounting import DAY_S, CoreSeconds, Sample
from usage.db import AccountingDB, ClusterKey, default_url
from usage.page import render_page
from usage.reports import usage_report
from usage.service import parse_since

NOW_S = 200 * DAY_S + 3600


def test_a_user_reads_their_own_data_by_default_or_by_naming_themselves():
    assert requested_scope("alice", None, everyone=False, is_admin=False) == Scope("alice")
    assert requested_scope("alice", "alice", everyone=False, is_admin=False) == Scope("alice")


@pytest.mark.parametrize(("user", "everyone"), [("bob", False), (None, True)])
def test_another_users_or_everyones_data_is_forbidden_to_a_non_admin(user, everyone):
    with pytest.raises(Forbidden):
        requested_scope("alice", user, everyone=everyone, is_admin=False)


def test_an_admin_reads_one_user_or_everyone():
    assert requested_scope("admin", "bob", everyone=False, is_admin=True) == Scope("bob")
    assert requested_scope("admin", None, everyone=True, is_admin=True) == Scope(None)


def test_since_takes_epoch_seconds_or_iso_8601_and_defaults_to_the_last_day():
    assert parse_since("1700000000", NOW_S) == 1_700_000_000
    assert parse_since("1970-01-02T00:00:00Z", NOW_S) == DAY_S
    assert parse_since("1970-01-02T00:00:00", NOW_S) == DAY_S  # no offset: UTC
    assert parse_since(None, NOW_S) == NOW_S - DAY_S
    with pytest.raises(web.HTTPError) as error:
        parse_since("yesterday", NOW_S)
    assert error.value.status_code == 400


def test_the_usage_report_gives_core_hours_per_window_today_included(tmp_path: Path):
    db = AccountingDB(default_url(tmp_path))
    key = ClusterKey("alice-spark", "alice", "", "spark")
    today = 200
    parts = [CoreSeconds(today, 7200, 3600), CoreSeconds(today - 3, 3600, 0)]
    parts.append(CoreSeconds(today - 29, 3600, 3600))
    parts.append(CoreSeconds(today - 30, 99_999, 0))  # outside every window
    db.record(key, Sample(NOW_S, 1, 1, 0), 1, parts)

    report = usage_report(db, NOW_S, "alice")["users"]["alice"]

    assert report["today"] == {"held": 2.0, "used": 1.0, "idle": 1.0, "unmeasured": 0.0}
    assert (report["7d"]["held"], report["7d"]["idle"]) == (3.0, 2.0)
    assert (report["30d"]["held"], report["30d"]["used"]) == (4.0, 2.0)


def test_the_usage_report_names_a_user_without_usage_with_zeros(tmp_path: Path):
    report = usage_report(AccountingDB(default_url(tmp_path)), NOW_S, "carol")

    assert report["users"]["carol"]["30d"]["held"] == 0.0


def test_the_page_escapes_what_users_and_the_controller_wrote():
    cluster = {
        "name": "alice-spark",
        "server": "",
        "engine": "spark",
        "phase": "Ready",
        "workers": 1,
        "desired": 2,
        "reason": "<script>x</script>",
    }
    hours = {"held": 1.5, "used": 0.5, "idle": 1.0, "unmeasured": 0.0}

    page = render_page("alice", "alice", [cluster], {"today": hours}).decode()

    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    assert "1 / 2" in page and "1.50" in page
