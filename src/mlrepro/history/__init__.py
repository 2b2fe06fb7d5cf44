"""`mlrepro history`: each metric's value at each of the last N commits of a revision.

`core.metric_history` reads the metrics files that dvc.yaml declares (at the revision's tip) from
the first-parent history with one `git log` and one `git cat-file --batch`, and returns the values
as data; `render` makes that data a table, JSON, CSV or a PNG plot; `cli` parses and prints.
"""
