"""`mlrepro params check`: params.yaml and the schema file checked as the stages will check them.

The params model itself is `mlrepro.core.params` (the stages import it); `check` runs the
stages' own checks without running the pipeline; `cli` is the command shell.
"""
