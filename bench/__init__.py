"""tagstream's benchmarks and capacity planning: scripts and commands run from a checkout, not part of
the installed package (`python -m bench --help`)."""
