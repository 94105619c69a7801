"""Test doubles shipped with the backend: a fake Ollama and a way to serve an app in a thread."""
