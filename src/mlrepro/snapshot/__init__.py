"""Snapshot-then-copy: immutable, timestamped, content-hashed snapshots of raw sources, pinned in
params.yaml, tracked by DVC, verified byte for byte before every use."""
