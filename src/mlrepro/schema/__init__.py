"""`mlrepro schema`: commands about the schema file (`infer`: a starting schema from a snapshot)."""
