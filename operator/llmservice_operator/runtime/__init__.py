"""The running operator: kopf's watches in, API writes out.

Everything that lives in the operator process and talks to the cluster is here; the
decisions it acts on come from the pure layers (``api``, ``builders``, ``core``).
"""
