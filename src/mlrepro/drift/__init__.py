"""`mlrepro drift REF CUR`: drift of each column between two snapshots or table files.

`core` reads the two tables and chooses the columns, the library (`mlrepro.pipeline.drift`, which
the drift stage runs too) measures, `render` renders, `cli` is the thin command shell.
"""
