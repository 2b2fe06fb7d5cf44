"""`mlrepro diff`: metrics, params, pinned data and stage changes between two revisions.

`revs` reads files at a revision without checking anything out, `gates` decides a verdict per
metric from gates.yaml, `diff` compares two revisions into plain data and renders it, `cli` is
the thin command shell.
"""
