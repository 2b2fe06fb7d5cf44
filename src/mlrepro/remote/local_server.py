"""`make s3-local`: a local S3 API server (moto) on 127.0.0.1 for trying the remote out.

moto keeps every object in memory and forgets them when it stops; it is for trying, not storing.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import time
from collections.abc import Sequence

BUCKET = "mlrepro"
HOST = "127.0.0.1"


def port_error(port: int) -> str | None:
    """Why the server could not listen on HOST:port (taken, not allowed), or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            return "is in use" if taken else f"cannot be listened on: {exc.strerror}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a local S3 API server (moto).")
    parser.add_argument("--port", type=int, default=5555)
    parser.add_argument("--bucket", default=BUCKET)
    args = parser.parse_args(argv)
    problem = port_error(args.port)
    if problem is not None:
        print(
            f"mlrepro s3-local: error: {HOST}:{args.port} {problem} (make s3-local PORT=...)",
            file=sys.stderr,
        )
        return 2

    import boto3
    from moto.server import ThreadedMotoServer

    endpoint = f"http://{HOST}:{args.port}"
    server = ThreadedMotoServer(ip_address=HOST, port=args.port, verbose=False)
    server.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )
        s3.create_bucket(Bucket=args.bucket)
        print(f"S3 API server on {endpoint}, bucket {args.bucket!r} (in memory; Ctrl-C stops it)")
        print("In another shell:")
        print("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
        print(f"  mlrepro remote add s3://{args.bucket}/dvc --endpoint {endpoint}")
        print("  dvc push    # or: mlrepro remote push")
        print("  mlrepro remote verify", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
