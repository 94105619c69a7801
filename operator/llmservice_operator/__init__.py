"""llmservice-operator: run Ollama-based LLM chat services on Kubernetes from one resource.

The layers are the folders: ``api`` (the contract), ``builders`` and ``core`` (pure
decisions), ``runtime`` (the operator process), ``tools`` (user commands); ``cli`` is the
command line over all of them.
"""

__version__ = "0.1.0"
