"""Throughput of `dvc push` / `dvc pull` of N MiB against a local S3 API server (moto),
side by side with a plain boto3 multipart upload and download of the same bytes.

    python bench/remote.py --mib 1024 --output bench/REMOTE_RESULTS.md

moto keeps every object in memory: 1 GiB needs about 2-3 GiB of RAM in this process.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlrepro import dvccache

FILES = 16  # the data is a folder of FILES equal parts, so DVC can transfer in parallel
JOBS = 8


def main() -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        DVC_NO_ANALYTICS="1",
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="bench")
    size = args.mib * 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "data").mkdir(parents=True)
        part = size // FILES
        for i in range(FILES):
            (repo / "data" / f"part{i:02}.bin").write_bytes(os.urandom(part))
        dvc = [sys.executable, "-m", "dvc"]

        def run(*cmd: str, cwd: Path = repo) -> float:
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
            return time.perf_counter() - start

        run("git", "init", "-q")
        run(*dvc, "init", "-q")
        run(*dvc, "add", "-q", "data")
        run(*dvc, "remote", "add", "-d", "storage", "s3://bench/dvc")
        run(*dvc, "remote", "modify", "storage", "endpointurl", endpoint)
        rows.append(("dvc push --jobs 8", run(*dvc, "push", "--jobs", str(JOBS))))
        run("rm", "-rf", str(dvccache.cache_dir(repo)), "data")
        rows.append(("dvc pull --jobs 8 (verify = false)", run(*dvc, "pull", "--jobs", str(JOBS))))
        run(*dvc, "remote", "modify", "storage", "verify", "true")
        run("rm", "-rf", str(dvccache.cache_dir(repo)), "data")
        rows.append(("dvc pull --jobs 8 (verify = true)", run(*dvc, "pull", "--jobs", str(JOBS))))

        blob = Path(tmp) / "blob.bin"
        with open(blob, "wb") as fh:
            for p in sorted((repo / "data").iterdir()):
                fh.write(p.read_bytes())
        config = TransferConfig(multipart_chunksize=64 * 2**20, max_concurrency=JOBS)
        start = time.perf_counter()
        s3.upload_file(str(blob), "bench", "plain/blob.bin", Config=config)
        rows.append(("boto3 upload_file (multipart, 8 threads)", time.perf_counter() - start))
        start = time.perf_counter()
        s3.download_file("bench", "plain/blob.bin", str(blob) + ".back", Config=config)
        rows.append(("boto3 download_file (8 threads)", time.perf_counter() - start))
    server.stop()
    lines = [
        f"# Remote throughput: {args.mib} MiB against moto on 127.0.0.1",
        "",
        f"`python bench/remote.py --mib {args.mib}`; {FILES} files for DVC, one file for boto3; "
        f"{os.cpu_count()} CPU(s). moto holds objects in memory, so this measures the client "
        "and the HTTP path, not a disk or a network.",
        "",
        "| transfer | seconds | MiB/s |",
        "|---|---:|---:|",
        *(f"| {name} | {secs:.1f} | {args.mib / secs:.0f} |" for name, secs in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
