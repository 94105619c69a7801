"""The pure core: decisions made from data, with no API access and no clock of their own.

:mod:`.status` computes an LLMService's status from what is observed of its children;
:mod:`.planner` compares the desired children with what exists and says what to write.
The builders (``llmservice_operator.builders``) make the desired children. The runtime
feeds these functions and carries out what they decide.
"""
