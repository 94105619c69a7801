"""The test kit of llmservice-operator: what the tests and ``make run`` need, never the
operator image.

- :mod:`.emulator`: a local Kubernetes API server built on kmock (no cluster needed), with
  helpers that play kube-controller-manager;
- :mod:`.pytest_plugin`: fixtures serving it to tests;
- :mod:`.playground`: ``make run`` without a cluster.

A distribution of its own (``testkit/pyproject.toml``), installed by the development setup
only, so the operator's wheel carries none of it and nothing in the operator imports it.
``python -m llmservice_testkit`` runs its commands.
"""
