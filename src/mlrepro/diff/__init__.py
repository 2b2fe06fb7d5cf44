"""`mlrepro diff`: metrics, params, pinned data and stage changes between two revisions.

`gates` decides a verdict per metric from gates.yaml, `core` compares two revisions (read by
`mlrepro.revisions`) into plain data, `looks` counts the models scored on B's test part, `render`
renders it (one table per metrics file), `cli` is the thin command shell.
"""
