"""Protocol clients: they ask a target and return plain facts, and know nothing of Nagios.

Every probe takes a target description and a
:class:`healthprobes.probes.deadline.Deadline`, returns plain objects, and raises
:class:`healthprobes.probes.errors.ProbeError` when it could not ask at all.
"""
