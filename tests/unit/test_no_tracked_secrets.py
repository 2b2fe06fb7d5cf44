"""No credential in a file git tracks: AWS keys, secrets in a DVC config, `user:password@` URLs.

`tracked_credentials` scans every file `git ls-files` lists; the second test proves it finds a
planted secret of each kind in a temporary repo (and lets the moto dummy `testing` through).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mlrepro.remote.credentials import SECRET_OPTIONS
from tests.conftest import PROJECT, tool_env

DUMMY = "testing"  # the credential moto's local S3 server accepts; tests and README use it
# other dummies, each allowed only in the file that uses it against a server that is not there
TEST_DUMMIES = {("tests/unit/test_snapshot_sql.py", "s3cret")}
AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
AWS_SECRET = re.compile(r"(?i)secret_?access_?key\W{1,5}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
CONFIG_OPTION = re.compile(rf"(?m)^\s*(?:aws_)?({'|'.join(SECRET_OPTIONS)})\s*=\s*(\S.*?)\s*$")
CHARS = r"[\w.~%!$&'()*+,;=-]"  # userinfo characters (RFC 3986), no braces: f"{user}:{pw}@"
URL_PASSWORD = re.compile(rf"://{CHARS}+:(?!\d+(?:[/?#\s]|$))({CHARS}(?:{CHARS}|/)*)@")
DVC_CONFIGS = (".dvc/config", ".dvc/config.local")  # config.local is git-ignored: never tracked


def allowed(name: str, value: str) -> bool:
    """A test dummy, a shell variable, `***`, `...` or `<...>`: not a credential."""
    value = value.strip("'\"")
    placeholder = value[:1] in ("$", "<") or set(value) <= {"*", "."}
    return placeholder or value == DUMMY or (name, value) in TEST_DUMMIES


def file_credentials(name: str, text: str) -> list[str]:
    """`path:line: kind` of each credential in one file's text; never the value."""
    found: list[tuple[int, str]] = []

    def add(match: re.Match[str], kind: str) -> None:
        found.append((text.count("\n", 0, match.start()) + 1, kind))

    for m in AWS_KEY_ID.finditer(text):
        add(m, "AWS access key id")
    for m in AWS_SECRET.finditer(text):
        add(m, "AWS secret access key")
    if name.endswith(DVC_CONFIGS):
        for m in CONFIG_OPTION.finditer(text):
            if not allowed(name, m[2]):
                add(m, f"DVC config option {m[1]}")
    for m in URL_PASSWORD.finditer(text):
        if not allowed(name, m[1]):
            add(m, "user:password@ in a URL")
    return [f"{name}:{line}: {kind}" for line, kind in sorted(found)]


def tracked_credentials(root: Path) -> list[str]:
    """Every credential in the files of `root` that git tracks (binary ones read as text)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, env=tool_env(), capture_output=True, check=True
    )
    found = []
    for name in sorted(listed.stdout.decode().split("\0")):
        path = root / name
        if name and path.is_file():  # not a submodule, not deleted in the work tree
            found += file_credentials(name, path.read_text(errors="replace"))
    return found


@pytest.mark.skipif(not (PROJECT / ".git").exists(), reason="not a git checkout")
def test_no_credential_in_a_tracked_file() -> None:
    found = tracked_credentials(PROJECT)
    assert found == [], "credentials in tracked files (rotate them, then remove):\n" + "\n".join(
        found
    )


def test_a_planted_credential_is_found(tmp_path: Path) -> None:
    key_id = "AKIA" + "Q7ZX" * 4
    secret = "wJalr" + "X9/k+" * 7
    password = "pw-" + "n0tdummy" * 2
    files = {
        ".dvc/config": (
            "[core]\n    remote = storage\n['remote \"storage\"']\n    url = s3://b/x\n"
            f"    access_key_id = {DUMMY}\n    secret_access_key = {password}\n"
        ),
        "notes.md": (
            f"the key {key_id}\nendpoint http://alice:{password}@s3.example:9000/x\n"
            f"allowed: http://{DUMMY}:{DUMMY}@127.0.0.1:5555, http://$USER:$PASSWORD@host,\n"
            "http://host:5555/path@v1, ssh://git@example.org/repo, s3://***@bucket/x\n"
            f"postgresql://reader:{'s3' + 'cret'}@db/x (that dummy is allowed in one file only)\n"
        ),
        "deploy/aws.ini": (
            f"[default]\naws_access_key_id = {DUMMY}\naws_secret_access_key={secret}\n"
        ),
        "settings.py": f'REGION = "eu-west-1"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n',
        "blob.bin": f"\0\1\2{key_id}\0".encode().decode("latin-1"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "untracked.txt").write_text(key_id)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, env=tool_env(), check=True)
    subprocess.run(["git", "add", *files], cwd=tmp_path, env=tool_env(), check=True)

    found = tracked_credentials(tmp_path)
    assert found == [
        ".dvc/config:6: DVC config option secret_access_key",
        "blob.bin:1: AWS access key id",
        "deploy/aws.ini:3: AWS secret access key",
        "notes.md:1: AWS access key id",
        "notes.md:2: user:password@ in a URL",
        "notes.md:5: user:password@ in a URL",
        "settings.py:2: AWS secret access key",
    ], found
    report = "\n".join(found)
    assert key_id not in report and secret not in report and password not in report
