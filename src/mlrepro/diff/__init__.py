"""`mlrepro diff`: metrics, params, pinned data and stage changes between two revisions.

`gates` decides a verdict per metric from gates.yaml, `core` compares two revisions (read by
`mlrepro.revisions`) into plain data, `render` renders it, `cli` is the thin command shell.
"""
