"""The pipeline's own library: what the stages import besides `mlrepro.core`.

`schema` (schema.yaml and the SERVING columns), `model` (the estimator from params), `modelfile`
(the skops model file, loaded only after its md5 matches dvc.lock), `evaluation` (metrics),
`plots` (PNG and DVC plot data), `environment` (the packages recorded in the model card).
Each stage lists in dvc.yaml exactly the modules of this package that it runs.
"""
