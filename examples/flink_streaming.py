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
# # Readings per minute: a Flink streaming job
#
# On the hub this job is submitted to **your own Flink session cluster** (the hub points PyFlink
# at it through `FLINK_CONF_DIR`); TaskManagers are added while it waits for slots. Elsewhere
# the same notebook runs on a local mini-cluster.
#
# The source is bounded — one reading per second for ten minutes of event time — so the stream
# ends and the result is exact: each one-minute tumbling window fires once its watermark passes.

# %%
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.execute_sql("""
    CREATE TEMPORARY TABLE readings (
        id BIGINT,
        ts AS TO_TIMESTAMP_LTZ(id * 1000, 3),
        WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
    ) WITH (
        'connector' = 'datagen',
        'fields.id.kind' = 'sequence',
        'fields.id.start' = '0',
        'fields.id.end' = '599'
    )
""")

# %%
per_minute = t_env.execute_sql("""
    SELECT MIN(id) AS first_id, COUNT(*) AS readings, SUM(id) AS total
    FROM TABLE(TUMBLE(TABLE readings, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
    GROUP BY window_start, window_end
""")
with per_minute.collect() as rows:
    result = sorted(tuple(row) for row in rows)
print(result)

# %% [markdown]
# Ten windows of 60 readings; window `k` holds ids 60k … 60k + 59, which sum to 3,600·k + 1,770.

# %%
assert result == [
    (0, 60, 1_770),
    (60, 60, 5_370),
    (120, 60, 8_970),
    (180, 60, 12_570),
    (240, 60, 16_170),
    (300, 60, 19_770),
    (360, 60, 23_370),
    (420, 60, 26_970),
    (480, 60, 30_570),
    (540, 60, 34_170),
], result
