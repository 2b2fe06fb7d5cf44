"""What every stage and command shares: the error hierarchy, params.yaml, file helpers and the
stage shell. dvc.yaml lists this folder as a dependency of every stage."""
