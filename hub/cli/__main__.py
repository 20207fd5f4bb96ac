"""``python -m hub.cli``: what the tests and benchmarks start as a process."""

from hub.cli.main import main

main()
