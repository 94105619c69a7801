"""The chat backend that runs beside the Ollama sidecar in every LLMService pod."""
