"""Benchmarks behind ``make bench``: each prints hubscale's figures beside its baseline's, measured in one run."""
