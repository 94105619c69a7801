"""Allow ``python -m llmservice_operator``."""

from llmservice_operator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
