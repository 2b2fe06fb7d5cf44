"""`mlrepro metrics show`: the evaluate stage's metrics file as a table, one column per part."""
