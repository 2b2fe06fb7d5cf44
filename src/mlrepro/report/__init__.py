"""`mlrepro report`: the pull-request report of two revisions (report.md and overlaid PNG plots).

`core.build_report` computes and writes it; `cli` is the thin command shell.
"""
