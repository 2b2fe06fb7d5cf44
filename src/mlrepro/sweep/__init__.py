"""`mlrepro sweep`: a grid of experiments (`-S`, as `dvc exp run` reads it), one Dask task per
configuration, each run with `dvc exp run` in its own clean checkout and brought back as a DVC
experiment.

`grid` expands the `-S` options into configurations and names them (pure); `params` checks every
configuration's params before anything starts; `task` is what a Dask worker runs (it starts
`checkout` in a process of its own, which clones, runs, pushes and cleans up); `cluster` is the
local cluster or the remote scheduler; `core` is the client (the tasks and their outcomes),
`results` the outcomes as data, `render` the progress lines and the summary; `cli` is the thin
command shell.
"""
