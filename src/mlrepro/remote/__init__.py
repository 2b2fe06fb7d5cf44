"""Remote storage on S3 (dvc-s3): add a remote, push and pull with checks, verify what is there."""
