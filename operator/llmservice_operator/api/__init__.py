"""The contract: what an LLMService is.

The pydantic models (fields, defaults, bounds, documentation), the cross-field rules the
CRD carries as CEL text, the CRD generated from both, the names and labels every layer
agrees on, and the reading of an object into the models with errors in a user's terms.
Nothing here talks to a cluster or evaluates CEL.
"""
