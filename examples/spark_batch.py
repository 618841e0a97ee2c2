# ---
# jupyter:
#   hubscale:
#     kernel: spark
#     timeout: 600
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: hubscale
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (Spark)
#     language: python
#     name: spark
# ---

# %% [markdown]
# # Orders per region: a Spark batch job
#
# On the hub this runs on **your own Spark cluster**: `SparkSession.builder.getOrCreate()` reads
# the master URL, the cluster's secret and dynamic allocation from `SPARK_CONF_DIR`, which the hub
# sets for your server. The cluster grows while the job waits for executors and shrinks when it
# is idle. Elsewhere (CI, a laptop) the same notebook runs on a local Spark.

# %%
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = SparkSession.builder.appName("examples-spark-batch").getOrCreate()
print("Spark master:", spark.sparkContext.master)

# %% [markdown]
# 10,000 orders: order `i` comes from region `i % 4` and is worth `i % 100`.

# %%
orders = spark.range(10_000, numPartitions=8).select(
    F.col("id").alias("order_id"),
    (F.col("id") % 4).alias("region"),
    (F.col("id") % 100).alias("amount"),
)
per_region = (
    orders.groupBy("region")
    .agg(F.count("*").alias("orders"), F.sum("amount").alias("revenue"))
    .orderBy("region")
)
result = [tuple(row) for row in per_region.collect()]
print(result)

# %% [markdown]
# Each region has 2,500 orders; region `r` earns 100 × (25·r + 1,200).

# %%
assert result == [
    (0, 2500, 120_000),
    (1, 2500, 122_500),
    (2, 2500, 125_000),
    (3, 2500, 127_500),
], result

# %%
spark.stop()
