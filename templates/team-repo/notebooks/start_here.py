# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # Start here
#
# Every notebook in this folder is a test: CI runs it top to bottom (`pytest notebooks/`) and it
# passes when every cell runs. State what must hold with `assert`; a failure names the cell.
# Give a notebook its own timeout, kernel or parameters in its metadata, under `hubscale`.

# %%
import statistics

latencies_ms = [12, 15, 11, 40, 13]
median_ms = statistics.median(latencies_ms)
print(f"median latency: {median_ms} ms")

# %%
assert median_ms == 13
