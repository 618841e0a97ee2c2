"""Trace files: the documented kinds of line, errors with line numbers, round trips."""

from __future__ import annotations

import io
import json

import pytest

from autoscaler.sim.generator import TeamDay, generate
from autoscaler.sim.trace import (
    FlinkJob,
    Session,
    SparkJob,
    Stage,
    TraceError,
    read_trace,
    write_trace,
)

EXAMPLE = """\
{"t": 0.0, "user": "bob", "engine": "flink", "job": "s1", "max_parallelism": 8, \
"records_per_slot_second": 1000, "rate": [[0, 500], [3600, 4000], [7200, 0]]}
{"t": 0.0, "user": "alice", "session": "start"}
{"t": 12.0, "user": "alice", "engine": "spark", "job": "j1", \
"stages": [{"tasks": 200, "task_seconds": 0.5}, {"tasks": 8, "task_seconds": 30}], "note": "x"}

{"t": 20.0, "user": "alice", "session": "end"}
"""


def test_reads_every_documented_kind_and_ignores_unknown_fields():
    flink, start, spark, end = read_trace(EXAMPLE.splitlines())
    assert isinstance(flink, FlinkJob) and flink.end == 7200 and flink.rate_at(1800) == 2250
    assert start == Session(0.0, "alice", "start") and end.state == "end"
    assert spark == SparkJob(12.0, "alice", "j1", (Stage(200, 0.5), Stage(8, 30.0)))
    assert spark.work_s == 340


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: not JSON"),
        ('{"t": 1, "user": "a", "engine": "hadoop", "job": "x"}', "line 2: engine: must be"),
        ('{"t": 1, "user": "a", "engine": "spark", "job": "x", "stages": []}', "stages: must be"),
        (
            '{"t": 1, "user": "a", "engine": "spark", "job": "x", "stages": [{"tasks": 0, '
            '"task_seconds": 1}]}',
            "line 2: stages[0].tasks: must be at least 1",
        ),
        ('{"t": -1, "user": "a", "session": "start"}', "line 2: t: must be at least 0"),
        ('{"t": "soon", "user": "a", "session": "start"}', "line 2: t: must be a number"),
        ('{"t": 1, "session": "start"}', "line 2: user: missing"),
        ('{"t": 1, "user": "a", "session": "maybe"}', "session: must be 'start' or 'end'"),
        (
            '{"t": 1, "user": "a", "engine": "flink", "job": "s", "max_parallelism": 2, '
            '"records_per_slot_second": 10, "rate": [[0, 1], [0, 2]]}',
            "rate: point times",
        ),
        ("[1, 2]", "line 2: expected a JSON object"),
        (
            '{"t": 1, "user": "a", "engine": "spark", "job": "x", "after": "nope", '
            '"think_s": 3, "stages": [{"tasks": 1, "task_seconds": 1}]}',
            "line 2: after: no earlier Spark job 'nope' of a",
        ),
        (
            '{"t": 1, "user": "a", "engine": "spark", "job": "x", "after": "x", '
            '"stages": [{"tasks": 1, "task_seconds": 1}]}',
            "line 2: after: no earlier Spark job 'x' of a",
        ),
    ],
)
def test_malformed_lines_name_the_line_and_field(line, message):
    with pytest.raises(TraceError) as error:
        read_trace(['{"t": 0, "user": "a", "session": "start"}', line])
    assert message in str(error.value)
    assert error.value.line == 2


def test_times_must_not_go_backwards():
    lines = ['{"t": 5, "user": "a", "session": "start"}', '{"t": 1, "user": "a", "session": "end"}']
    with pytest.raises(TraceError, match=r"line 2: t: 1\.0 is before"):
        read_trace(lines)


def test_a_generated_day_round_trips_through_a_file():
    events = generate(TeamDay(users=5, hours=2, seed=3))
    buffer = io.StringIO()
    write_trace(events, buffer)
    assert read_trace(buffer.getvalue().splitlines()) == events
    assert all(json.loads(line) for line in buffer.getvalue().splitlines())


def test_generator_is_deterministic_per_seed():
    assert generate(TeamDay(users=4, seed=1)) == generate(TeamDay(users=4, seed=1))
    assert generate(TeamDay(users=4, seed=1)) != generate(TeamDay(users=4, seed=2))


def test_a_closed_loop_job_names_the_job_it_follows_and_the_think_time():
    lines = [
        '{"t": 0, "user": "a", "engine": "spark", "job": "j1", "stages": [{"tasks": 1, '
        '"task_seconds": 2}]}',
        '{"t": 32, "user": "a", "engine": "spark", "job": "j2", "after": "j1", "think_s": 30, '
        '"stages": [{"tasks": 1, "task_seconds": 2}]}',
    ]
    first, second = read_trace(lines)
    assert (first.after, second.after, second.think_s) == (None, "j1", 30.0)
    buffer = io.StringIO()
    write_trace([first, second], buffer)
    assert read_trace(buffer.getvalue().splitlines()) == [first, second]


def test_a_generated_day_has_closed_and_open_loop_sessions_and_one_task_jobs():
    spark = [e for e in generate(TeamDay(users=40, hours=4, seed=7)) if isinstance(e, SparkJob)]
    closed = [job for job in spark if job.after is not None]
    assert 0.5 < len(closed) / len(spark) < 0.95  # 75 % of sessions at a notebook
    assert min(stage.tasks for job in spark for stage in job.stages) == 1
