"""Helpers of `repatriation bench`, the mass-release benchmark (see BENCHMARKS.md).

Not part of the installed application: the command finds this folder beside the
``repatriation`` package in a source checkout.
"""
