"""Core-seconds held and used between samples: scale events, day boundaries, restarts (gaps)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from usage.accounting import DAY_S, CoreSeconds, Sample, between, day_of, day_spans, integrate

GAP_S = 120.0


def totals(parts: list[CoreSeconds]) -> tuple[float, float]:
    return sum(p.held for p in parts), sum(p.used for p in parts)


def test_a_scale_event_changes_what_is_held_from_the_sample_that_saw_it():
    samples = [
        Sample(0, workers=1, cores_per_worker=2, busy_cores=2),
        Sample(60, workers=3, cores_per_worker=2, busy_cores=3),
        Sample(120, workers=0, cores_per_worker=2, busy_cores=0),
    ]

    [day] = integrate(samples, GAP_S)

    assert (day.held, day.used, day.idle) == (2 * 60 + 6 * 60, 2 * 60 + 3 * 60, 3 * 60)


def test_a_gap_longer_than_the_limit_counts_nothing_as_across_a_restart():
    before_restart = Sample(0, 4, 1, 4)
    after_restart = Sample(GAP_S + 1, 4, 1, 4)

    assert between(before_restart, after_restart, GAP_S) == []
    assert totals(integrate([Sample(-60, 4, 1, 4), before_restart, after_restart], GAP_S)) == (
        240,
        240,
    )


def test_busy_cores_beyond_those_held_count_as_held_and_unknown_ones_as_unmeasured():
    [over] = between(Sample(0, 1, 2, 5.0), Sample(10, 1, 2, 0), GAP_S)
    [unknown] = between(Sample(0, 1, 2, None), Sample(10, 1, 2, 0), GAP_S)
    [nan] = between(Sample(0, 1, 2, math.nan), Sample(10, 1, 2, 0), GAP_S)

    assert (over.held, over.used, over.unmeasured) == (20, 20, 0)
    assert (unknown.held, unknown.used, unknown.unmeasured) == (20, 0, 20)
    assert (nan.used, nan.unmeasured) == (0, 20)


def test_an_interval_across_midnight_is_split_between_the_two_days():
    parts = between(Sample(DAY_S - 30, 2, 1, 1), Sample(DAY_S + 60, 2, 1, 1), GAP_S)

    assert [(p.day, p.held, p.used) for p in parts] == [(0, 60, 30), (1, 120, 60)]


samples = st.lists(
    st.builds(
        Sample,
        time_s=st.floats(0, 3 * DAY_S, allow_nan=False),
        workers=st.integers(0, 16),
        cores_per_worker=st.integers(1, 8),
        busy_cores=st.none() | st.floats(0, 200, allow_nan=False),
    ),
    max_size=30,
).map(lambda found: sorted(found, key=lambda s: s.time_s))


@given(samples)
def test_used_never_exceeds_held_and_nothing_is_negative(found: list[Sample]):
    for part in integrate(found, GAP_S):
        assert 0 <= part.used <= part.held + 1e-6
        assert 0 <= part.unmeasured <= part.held + 1e-6


@given(samples, st.integers(0, 30))
def test_the_rollup_is_the_same_whether_counted_at_once_or_in_two_runs(found, cut):
    """A restart that loses no sample (it resumes from the stored one) changes nothing."""
    cut = min(cut, len(found))
    whole = totals(integrate(found, GAP_S))
    first, second = integrate(found[: cut + 1], GAP_S), integrate(found[cut:], GAP_S)
    split = totals(first + second)

    assert math.isclose(whole[0], split[0], abs_tol=1e-6)
    assert math.isclose(whole[1], split[1], abs_tol=1e-6)


@given(st.floats(0, 10 * DAY_S, allow_nan=False), st.floats(0, 3 * DAY_S, allow_nan=False))
def test_day_spans_cover_the_interval_exactly_with_each_span_inside_its_day(start, length):
    spans = list(day_spans(start, start + length))

    assert math.isclose(sum(s for _, s in spans), length, abs_tol=1e-6)
    days = [day for day, _ in spans]
    assert days == list(range(day_of(start), day_of(start) + len(days)))
    assert all(0 < s <= DAY_S for _, s in spans)
