"""The plugin runtime every check shares: options, states, ranges, results, rendering,
evaluation (options and a deadline in, a report out) and the exec front end.

This package's own import is empty on purpose: each executable loads only the modules
its run needs (tests/test_import_budget.py).
"""
