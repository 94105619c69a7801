"""llmservice-operator: run Ollama-based LLM chat services on Kubernetes from one resource."""

__version__ = "0.1.0"
