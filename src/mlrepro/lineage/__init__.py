"""Lineage from git history alone: what made an artifact (`upstream`), what read a snapshot
(`usedby`), who made a hash (`find`), read from each commit's dvc.lock and the snapshot manifests
through the one revision reader (`mlrepro.revisions`); nothing is checked out.

- `records`: a dvc.lock's stages and the graph between them
- `commits`: the commits in scope, with the refs at them and the refs that hold them
- `scan`: one pass over history's dvc.lock files
- `upstream`, `usedby`, `find`: the three questions
- `render` (text, JSON), `graph` (Mermaid, PNG; laid out by `layered`) and `openlineage` (run
  events) present the answers
"""
