"""Commands for users, beside the operator: ``render``, ``report``, ``loadtest`` (and the
generator of the API reference). None of them runs in the operator process."""
