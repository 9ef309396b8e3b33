"""Protocol clients: they ask a target and return plain facts, and know nothing of Nagios.

Every probe takes a target description and a :class:`probes.deadline.Deadline`, returns
dataclasses, and raises :class:`probes.errors.ProbeError` when it could not ask at all.
"""
