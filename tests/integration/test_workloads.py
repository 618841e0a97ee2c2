"""Every common workload, from zero, through the hub: the workload matrix of issue 12.

One platform as ``make up`` runs it (real hub, proxy, controller, Prometheus, JVMs) and one user
whose profile allows 2 workers per engine and releases them 5 s after the work ends. Each row runs
in that user's kernel through the proxy, as JupyterLab sends it, starting with the cluster at 0
workers; it checks the exact result, that the cluster grew for it (never past maxWorkers), and that
it went back to 0 afterwards. The Spark and Flink kernels are shared by the rows of their engine
(one Spark session, one PyFlink gateway), as a user's notebook would share them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.hub_fixtures import RunningHub, run_platform
from tests.integration.kernel_client import Execution, Kernel
from tests.support import wait_for

USER = "matrix-user"
MAX_WORKERS = 2
IDLE_TIMEOUT_S = 5
PROFILE = {
    "name": "matrix",
    "displayName": "Workload matrix",
    "idleTimeoutSeconds": IDLE_TIMEOUT_S,
    "spark": {"minWorkers": 0, "maxWorkers": MAX_WORKERS, "worker": {"cores": 1, "memory": "1Gi"}},
    "flink": {"minWorkers": 0, "maxWorkers": MAX_WORKERS, "worker": {"cores": 1, "memory": "1Gi"}},
    "userOptions": {"spark_max_workers": {"min": 0, "max": MAX_WORKERS}},
}
ROW_TIMEOUT_S = 300.0
BACK_TO_ZERO_S = 240.0  # idle timeout, then Spark's decommissioning of the worker's executor

SPARK_SESSION = """
import pandas as pd
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.appName("workload-matrix").getOrCreate()
sc = spark.sparkContext
print("MASTER", sc.master)
"""
FLINK_IMPORTS = """
from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import EnvironmentSettings, TableEnvironment
from pyflink.table.expressions import col
def batch_env():
    return TableEnvironment.create(EnvironmentSettings.in_batch_mode())
def streaming_env():
    return TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
def rows(result):
    with result.collect() as found:
        return sorted(tuple(row) for row in found)
"""


@dataclass(frozen=True)
class Row:
    """One workload: its code prints ``RESULT <json>``; ``expected`` is that JSON's value."""

    engine: str
    name: str
    code: str
    expected: object


SPARK_ROWS = [
    Row(
        "spark",
        "rdd action",
        'print("RESULT", sc.parallelize(range(1000), 4).map(lambda x: x * x).sum())',
        sum(x * x for x in range(1000)),
    ),
    Row(
        "spark",
        "dataframe groupBy agg",
        """
grouped = spark.range(100).groupBy((F.col("id") % 3).alias("k")).agg(F.sum("id").alias("s"))
print("RESULT", json.dumps([[r.k, r.s] for r in grouped.orderBy("k").collect()]))
""",
        [[k, sum(x for x in range(100) if x % 3 == k)] for k in range(3)],
    ),
    Row(
        "spark",
        "spark sql over a temp view",
        """
spark.createDataFrame([(i, f"u{i % 4}") for i in range(40)], ["n", "user"]) \\
    .createOrReplaceTempView("events")
found = spark.sql("SELECT user, COUNT(*) AS c, MAX(n) AS m FROM events GROUP BY user ORDER BY user")
print("RESULT", json.dumps([[r.user, r.c, r.m] for r in found.collect()]))
""",
        [[f"u{u}", 10, 36 + u] for u in range(4)],
    ),
    Row(
        "spark",
        "toPandas",
        """
frame = spark.range(10).withColumn("sq", F.col("id") * F.col("id")).toPandas()
print("RESULT", json.dumps([type(frame).__name__, list(frame.columns), int(frame.sq.sum())]))
""",
        ["DataFrame", ["id", "sq"], sum(x * x for x in range(10))],
    ),
    Row(
        "spark",
        "pandas udf on the executors",
        """
@F.pandas_udf("long")
def plus_one(values: pd.Series) -> pd.Series:
    return values + 1
print("RESULT", spark.range(100).select(F.sum(plus_one("id"))).first()[0])
""",
        sum(range(1, 101)),
    ),
    Row(
        "spark",
        "pandas API on Spark",
        """
import pyspark.pandas as ps
frame = ps.DataFrame({"k": [i % 2 for i in range(20)], "v": list(range(20))})
print("RESULT", json.dumps(frame.groupby("k").v.sum().sort_index().to_list()))
""",
        [sum(range(0, 20, 2)), sum(range(1, 20, 2))],
    ),
    Row(
        "spark",
        "spark ml pipeline fit",
        """
from pyspark.ml import Pipeline
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression
data = spark.createDataFrame([(float(x), 2.0 * x + 1.0) for x in range(30)], ["x", "y"])
stages = [VectorAssembler(inputCols=["x"], outputCol="features"), LinearRegression(labelCol="y")]
model = Pipeline(stages=stages).fit(data).stages[-1]
print("RESULT", json.dumps([round(model.coefficients[0], 6), round(model.intercept, 6)]))
""",
        [2.0, 1.0],
    ),
    Row(
        "spark",
        "matplotlib plot of a result",
        """
%matplotlib inline
import matplotlib.pyplot as plt
counts = spark.range(1000).groupBy((F.col("id") % 5).alias("k")).count().orderBy("k").toPandas()
plt.bar(counts.k, counts["count"])
plt.show()
print("RESULT", json.dumps(counts["count"].tolist()))
""",
        [200] * 5,
    ),
    Row(
        "spark",
        "structured streaming rate to memory",
        """
import time
query = (spark.readStream.format("rate").option("rowsPerSecond", 20).load()
         .writeStream.format("memory").queryName("rates").start())
deadline = time.monotonic() + 240
while spark.sql("SELECT COUNT(*) FROM rates").first()[0] < 30 and time.monotonic() < deadline:
    time.sleep(0.5)
query.stop()
values = [r.value for r in spark.sql("SELECT value FROM rates ORDER BY value LIMIT 30").collect()]
print("RESULT", json.dumps(values))
""",
        list(range(30)),
    ),
    Row(
        "spark",
        "a job wider than maxWorkers",
        """
import time
def slow_square(x):
    time.sleep(0.05)
    return x * x
print("RESULT", sc.parallelize(range(400), 16).map(slow_square).sum())
""",
        sum(x * x for x in range(400)),
    ),
]
FLINK_ROWS = [
    Row(
        "flink",
        "table api batch",
        """
table = batch_env().from_elements([(1, "a"), (2, "b"), (3, "a"), (4, "b")], ["x", "k"])
result = table.group_by(col("k")).select(col("k"), col("x").sum.alias("s")).execute()
print("RESULT", json.dumps(rows(result)))
""",
        [["a", 4], ["b", 6]],
    ),
    Row(
        "flink",
        "sql batch collect",
        """
env = batch_env()
found = list(env.execute_sql("SELECT SUM(x) FROM (VALUES (1),(2),(3),(4)) AS T(x)").collect())
print("RESULT", json.dumps([row[0] for row in found]))
""",
        [10],
    ),
    Row(
        "flink",
        "table api streaming bounded source",
        """
table = streaming_env().from_elements([(1,), (2,), (3,), (4,)], ["x"])
squares = table.select(col("x"), (col("x") * col("x")).alias("sq"))
print("RESULT", json.dumps(rows(squares.execute())))
""",
        [[1, 1], [2, 4], [3, 9], [4, 16]],
    ),
    Row(
        "flink",
        "datastream job with a python function",
        """
env = StreamExecutionEnvironment.get_execution_environment()
stream = env.from_collection([1, 2, 3, 4], type_info=Types.INT())
with stream.map(lambda x: x * 10, output_type=Types.INT()).execute_and_collect() as found:
    print("RESULT", json.dumps(sorted(found)))
""",
        [10, 20, 30, 40],
    ),
    Row(
        "flink",
        "batch job asking for more parallelism than the profile allows",
        """
env = batch_env()
env.get_config().set("parallelism.default", "8")
env.execute_sql(
    "CREATE TEMPORARY TABLE numbers (id BIGINT) WITH ('connector' = 'datagen',"
    " 'number-of-rows' = '20000', 'fields.id.kind' = 'sequence',"
    " 'fields.id.start' = '1', 'fields.id.end' = '20000')"
)
found = env.execute_sql("SELECT id % 4 AS k, COUNT(*), SUM(id) FROM numbers GROUP BY id % 4")
print("RESULT", json.dumps(rows(found)))
""",
        [[k, 5000, sum(i for i in range(1, 20001) if i % 4 == k)] for k in range(4)],
    ),
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    directory = tmp_path_factory.mktemp("workloads")
    profiles = directory / "profiles.yaml"
    profiles.write_text(yaml.safe_dump({"profiles": [PROFILE]}))
    yield from run_platform(directory, HUBSCALE_PROFILES=str(profiles))


@pytest.fixture(scope="module")
def kernels(hub: RunningHub) -> dict[str, Kernel]:
    """The user's server and one kernel per engine, with the session or imports every row uses."""
    hub.start_server(USER, options={"profile": "matrix"})
    spark, flink = hub.kernel(USER, "spark"), hub.kernel(USER, "flink")
    for kernel, setup in ((spark, SPARK_SESSION), (flink, FLINK_IMPORTS)):
        done = kernel.execute(f"import json\n{setup}", timeout_s=ROW_TIMEOUT_S)
        assert done.status == "ok", done.error or done.stderr[-3000:]
    return {"spark": spark, "flink": flink}


class Workers:
    """A cluster's worker JVMs, sampled in the background: the most seen at once."""

    def __init__(self, hub: RunningHub, cluster: str) -> None:
        self.hub, self.cluster, self.most = hub, cluster, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def count(self) -> int:
        roles = self.hub.jvm_pids(self.cluster)
        return sum(role.startswith(("worker-", "taskmanager-")) for role in roles)

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            self.most = max(self.most, self.count())

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def at_zero(hub: RunningHub, cluster: str, workers: Workers) -> bool:
    """Nothing held: the controller wants no worker and no worker JVM runs (draining included)."""
    stored = hub.store.get(cluster)
    status = stored.status if stored else None
    return status is not None and status.desired == 0 and workers.count() == 0


def result_of(run: Execution) -> object:
    assert run.status == "ok", run.error or run.stderr[-3000:]
    (shown,) = run.lines("RESULT")
    return json.loads(shown)


@pytest.mark.parametrize(
    "row", SPARK_ROWS + FLINK_ROWS, ids=lambda row: f"{row.engine}: {row.name}"
)
def test_a_workload_from_zero_gets_its_exact_result_and_the_cluster_goes_back_to_zero(
    hub: RunningHub, kernels: dict[str, Kernel], row: Row
):
    cluster = hub.cluster(USER, row.engine)
    workers = Workers(hub, cluster)
    wait_for(lambda: at_zero(hub, cluster, workers), timeout_s=BACK_TO_ZERO_S, every_s=0.5)

    with workers:
        started = time.monotonic()
        run = kernels[row.engine].execute(row.code, timeout_s=ROW_TIMEOUT_S)
        ran_s = time.monotonic() - started
        assert result_of(run) == row.expected
        started = time.monotonic()
        wait_for(lambda: at_zero(hub, cluster, workers), timeout_s=BACK_TO_ZERO_S, every_s=0.5)
        back_s = time.monotonic() - started

    print(f"workload row={row.name!r} ran_s={ran_s:.1f} back_to_zero_s={back_s:.1f}")
    assert 1 <= workers.most <= MAX_WORKERS, f"workers seen at once: {workers.most}"
    if "matplotlib" in row.name:
        (png,) = [display["image/png"] for display in run.displays if "image/png" in display]
        assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_kernels_python_is_the_same_on_the_executors(kernels: dict[str, Kernel]):
    """pandas UDFs run in the executors' Python: it must be the kernel's, with its packages."""
    code = """
import sys
def where(_):
    import numpy, pandas, pyarrow, scipy, sklearn
    return sys.executable
print("RESULT", json.dumps([sys.executable, sc.parallelize([0], 1).map(where).first()]))
"""
    driver, executor = result_of(kernels["spark"].execute(code, timeout_s=ROW_TIMEOUT_S))
    assert Path(driver).resolve() == Path(executor).resolve()


def test_a_job_the_cluster_may_not_run_says_so_in_the_cell_instead_of_hanging(hub: RunningHub):
    """A server whose Spark cluster may have no worker: the job waits for ever, and the cell
    says why (the controller's CapacityLimited condition, relayed by the kernel) within seconds."""
    hub.start_server(USER, "capped", {"profile": "matrix", "spark_max_workers": 0})
    kernel = hub.kernel(USER, "spark", "capped")
    code = f"{SPARK_SESSION}\nprint(sc.parallelize(range(10), 2).sum())"

    def told(execution: Execution) -> bool:  # after "waiting for your Spark master" (on demand)
        return "it cannot start" in execution.stderr

    started = time.monotonic()
    run = kernel.execute(code, timeout_s=ROW_TIMEOUT_S, until=told)
    print(f"capped-notice seconds={time.monotonic() - started:.1f}")
    kernel.interrupt()
    notice = next(line for line in run.stderr.splitlines() if "it cannot start" in line)
    assert notice.startswith("hubscale: ")
    assert "it cannot start: your Spark cluster may have no worker" in notice
    assert "capped at maxWorkers 0" in notice
    assert run.status == "", "the cell was still waiting when the notice came"
    hub.stop_server(USER, "capped")
