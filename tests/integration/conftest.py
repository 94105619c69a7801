pytest_plugins = ["llmservice_operator.testing.pytest_plugin"]
