"""`python -m eventkit.cli`: the command line."""

from eventkit.cli import main

main()
