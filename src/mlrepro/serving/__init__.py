"""Using the model a commit names: `mlrepro predict` (a file of raw rows), `mlrepro serve`
(HTTP JSON on a well-kept server library) and `mlrepro monitor` (drift of what was served).

- `served`: the revision's model, params, SERVING schema and joined tables, from git and the
  local DVC cache, the model loaded only after its md5 matches dvc.lock
- `predict`: raw rows -> typed, checked, featurized (featurize's own code) -> probability, label
- `output`: prediction files with their provenance
"""
