"""The local API server's fixtures for the integration tests.

Imported rather than listed in ``pytest_plugins``: pytest only accepts that in the top-level
conftest.
"""

from llmservice_testkit.pytest_plugin import (  # noqa: F401
    apiserver,
    fresh_apiserver,
    k8s_api_client,
    kubeconfig_path,
    namespace,
)
from operator_helpers import cluster, operator  # noqa: F401
