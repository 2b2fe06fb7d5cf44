"""`mlrepro verify [REV]`: re-run a commit from scratch in a clean temporary checkout and compare
every output hash with the commit's dvc.lock (`core.verify`); `--vary` runs it twice under
different environments to catch hidden nondeterminism."""
