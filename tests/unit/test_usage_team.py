"""The Team page's table (sorting, totals), the clusters idle now, and the held-vs-used chart."""

from __future__ import annotations

import json
import re

import pytest

from usage.accounting import Sample
from usage.chart import GAP_S, MIN_SPAN_S, Frame, render_chart, step_path, window_start
from usage.clusters import ClusterView, budgets
from usage.db import MINUTE_S, ClusterKey, Decision, Latest, Point
from usage.page import Budget, render_page
from usage.team import BadSort, Sort, idle_now, render_team, team_rows, team_totals

NOW_S = 1_000_000.0


def windows(held: float, used: float) -> dict[str, dict[str, float]]:
    hours = {"held": held, "used": used, "idle": held - used, "unmeasured": 0.0}
    return {"today": hours, "7d": hours, "30d": hours}


USERS = {"alice": windows(10, 9), "bob": windows(4, 0), "carol": windows(6, 1)}


def test_the_team_table_is_sorted_by_idle_over_30_days_most_first_by_default():
    assert [row["user"] for row in team_rows(USERS, Sort.parse(None, None))] == [
        "carol",  # 5 idle
        "bob",  # 4 idle
        "alice",  # 1 idle
    ]


def test_any_column_sorts_either_way_and_its_header_link_flips_the_order():
    by_held = Sort.parse("7d.held", "asc")
    by_name = Sort.parse("user", None)

    assert [row["user"] for row in team_rows(USERS, by_held)] == ["bob", "carol", "alice"]
    assert [row["user"] for row in team_rows(USERS, by_name)] == ["alice", "bob", "carol"]
    assert by_held.link("7d.held") == "?sort=7d.held&order=desc"
    assert by_held.link("user") == "?sort=user&order=asc"


@pytest.mark.parametrize(("column", "order"), [("30d.cost", None), ("user", "up")])
def test_an_unknown_sort_is_a_clear_error(column, order):
    with pytest.raises(BadSort, match=r"sort=|order="):
        Sort.parse(column, order)


def test_totals_add_every_column_over_the_users():
    totals = team_totals(USERS)

    assert (totals["today.held"], totals["30d.used"], totals["7d.idle"]) == (20, 10, 10)


def latest(cluster: str, age_s: float, workers: int, busy: float | None) -> Latest:
    key = ClusterKey(cluster, cluster.split("-")[0], "", "spark")
    return Latest(key, Sample(NOW_S - age_s, workers, 2, busy), workers)


def test_idle_now_lists_clusters_holding_cores_measured_not_busy_most_idle_first():
    found = idle_now(
        [
            latest("alice-spark", 5, workers=2, busy=1.0),  # 3 of 4 cores idle
            latest("bob-spark", 5, workers=4, busy=0.0),  # 8 idle
            latest("carol-spark", 5, workers=1, busy=2.0),  # all busy
            latest("dave-spark", 5, workers=2, busy=None),  # unmeasured: not called idle
            latest("erin-spark", 500, workers=2, busy=0.0),  # an old sample: gone or unseen
            latest("fred-spark", 5, workers=0, busy=0.0),  # holds nothing
        ],
        NOW_S,
        max_age_s=60,
    )

    assert [(c["cluster"], c["idle"]) for c in found] == [("bob-spark", 8), ("alice-spark", 3)]


def test_the_team_page_escapes_names_and_shows_totals_and_idle_clusters():
    users = {"<b>eve</b>": windows(2, 1)}
    idle = [{"cluster": "c", "user": "<i>x</i>", "server": "", "engine": "spark", "workers": 1,
             "held": 2, "used": 0, "idle": 2}]  # fmt: skip

    page = render_team("admin", users, Sort(), idle, budgets={"<b>eve</b>": 16}).decode()

    assert "<b>eve</b>" not in page and "&lt;b&gt;eve&lt;/b&gt;" in page
    assert "<i>x</i>" not in page
    assert 'class="total"' in page and 'id="idle"' in page and ">16<" in page


FRAME = Frame(since_s=0, until_s=600, top_cores=4)


def test_the_step_path_steps_at_each_minute_and_breaks_at_a_gap_or_no_metric():
    path = step_path(FRAME, [(0, 2), (60, 4), (120, None), (180, 1), (180 + GAP_S + 60, 1)])

    assert path.count("M") == 3  # start; after the None; after the gap
    assert path.startswith(f"M{FRAME.x(0)},{FRAME.y(2)}H{FRAME.x(60)}V{FRAME.y(4)}")


def test_the_chart_marks_each_decision_with_its_escaped_reason_as_tooltip():
    key = ClusterKey("alice-spark", "alice", "", "spark")
    points = [Point(t, 2.0, 1.0) for t in range(0, 600, MINUTE_S)]
    decisions = [
        Decision(120, key, 0, 2, "policy", "<script>2 apps waiting</script>"),
        Decision(480, key, 2, 0, "policy", "idle"),
        Decision(-5, key, 0, 1, "policy", "before the window"),
    ]

    svg = render_chart(points, decisions, 0, 600)

    assert svg.count('class="decision"') == 2
    assert "<script>" not in svg and "&lt;script&gt;2 apps waiting" in svg
    assert "0 -&gt; 2 workers (policy)" in svg
    held = re.search(r'class="held" d="([^"]*)"', svg)
    assert held and held.group(1).startswith("M")


def test_an_empty_chart_is_still_a_valid_picture():
    svg = render_chart([], [], 0, 86_400)

    assert svg.startswith("<svg") and 'class="held" d=""' in svg and ">00:00<" in svg


def test_the_time_axis_starts_shortly_before_the_days_first_point_within_the_day():
    now = 100 * 86_400.0
    key = ClusterKey("alice-spark", "alice", "", "spark")
    hour_ago = [Point(now - 3600, 1, 0)]

    assert window_start([], [], now, 86_400) == now - 86_400
    assert window_start(hour_ago, [], now, 86_400) == now - 3960  # a tenth more
    assert window_start([Point(now - 60, 1, 0)], [], now, 86_400) == now - MIN_SPAN_S
    assert window_start([], [Decision(now - 2 * 86_400, key, 0, 1, "p", "")], now, 86_400) == (
        now - 86_400
    )


def test_a_users_budget_is_the_smallest_their_clusters_say_and_my_compute_shows_it():
    def view(cluster: str, owner: str, budget: int | None) -> ClusterView:
        return ClusterView(ClusterKey(cluster, owner, "", "spark"), 2, 8, None, budget)

    views = [view("a1", "alice", 16), view("a2", "alice", 8), view("b1", "bob", None)]
    hours = {"held": 0.0, "used": 0.0, "idle": 0.0, "unmeasured": 0.0}

    with_budget = render_page("alice", "alice", [], {"today": hours}, budget=Budget(8, 6))
    without = render_page("bob", "bob", [], {"today": hours}).decode()

    assert budgets(views) == {"alice": 8}
    assert "Your budget: <strong>8\n cores</strong>" in with_budget.decode()
    assert "they hold 6 now" in with_budget.decode()
    assert "No budget" in without


def test_the_pages_benchmark_runs_and_writes_its_figures(tmp_path):
    from benchmarks.usage_pages import main

    main(["--users", "3", "--decisions", "2", "--json", str(tmp_path / "out.json")])

    figures = json.loads((tmp_path / "out.json").read_text())
    assert figures["chart"]["points"] == 1440 and figures["team"]["users"] == 3
