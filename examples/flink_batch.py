# ---
# jupyter:
#   hubscale:
#     kernel: flink
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
#     display_name: Python 3 (Flink)
#     language: python
#     name: flink
# ---

# %% [markdown]
# # Sales per category: a Flink batch query
#
# On the hub this query runs on **your own Flink session cluster**, in batch mode: Flink plans
# it stage by stage and the autoscaler adds TaskManagers for the tasks waiting for a slot (your
# cluster may be at zero when you start), then lets them go once the query is done. Elsewhere the
# same notebook runs on a local mini-cluster.

# %%
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
t_env.execute_sql("""
    CREATE TEMPORARY TABLE sales (
        id BIGINT,
        category AS CAST(id % 3 AS INT),
        amount AS id % 100
    ) WITH (
        'connector' = 'datagen',
        'number-of-rows' = '3000',
        'fields.id.kind' = 'sequence',
        'fields.id.start' = '0',
        'fields.id.end' = '2999'
    )
""")

# %% [markdown]
# 3,000 sales: sale `i` is in category `i % 3` and worth `i % 100`.

# %%
per_category = t_env.execute_sql("""
    SELECT category, COUNT(*) AS sales, SUM(amount) AS total
    FROM sales
    GROUP BY category
""")
with per_category.collect() as rows:
    result = sorted(tuple(row) for row in rows)
print(result)

# %%
expected = [(k, 1000, sum(i % 100 for i in range(3000) if i % 3 == k)) for k in range(3)]
assert result == expected, result
