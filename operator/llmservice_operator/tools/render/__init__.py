"""``llmservice-operator render``: the children of LLMServices, offline, validated as the API
server validates them.

:mod:`.command` reads the file and prints the children; :mod:`.cel` evaluates the CRD's CEL
rules, which the API server runs at admission and the operator therefore never does.
"""
