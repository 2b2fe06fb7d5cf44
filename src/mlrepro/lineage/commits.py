"""The commits a lineage question looks at, in one `git rev-list`: every commit on every branch
(local and remote) and tag, and every DVC experiment (`refs/exps/...`, which no branch holds),
newest first; or those of one branch (and the experiments based on it). Each commit knows the
refs that point at it and the refs whose history holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrepro.revisions import Repository, RevError

FORMAT = "%H%x00%P%x00%ct%x00%s"


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    time: int  # committer time, seconds since the epoch
    subject: str
    refs: tuple[str, ...]  # the refs at this commit: main, tag v1, exp lr-05 ...
    on: tuple[str, ...]  # the branches, tags and experiments whose history holds it

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.sha,
            "date": self.date,
            "subject": self.subject,
            "refs": list(self.refs),
            "on": list(self.on),
        }


@dataclass(frozen=True)
class Scope:
    """Which commits: all refs, or one branch; and none older than `since` (a git date)."""

    branch: str | None = None
    since: str | None = None  # an ISO 8601 date or time (UTC unless it says otherwise)

    def since_time(self) -> int | None:
        """`since` in seconds since the epoch; LineageError when it is not an ISO date."""
        if self.since is None:
            return None
        try:
            when = datetime.fromisoformat(self.since)
        except ValueError:
            raise RevError(
                f"--since {self.since!r}: not a date (YYYY-MM-DD, or an ISO 8601 time)"
            ) from None
        return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())

    def describe(self) -> str:
        where = f"branch {self.branch} and its experiments" if self.branch else "every ref"
        return where + (f", since {self.since}" if self.since else "")


def shallow_roots(repo: Repository) -> tuple[str, ...]:
    """In a shallow clone, the commits whose parents it lacks (git's `shallow` file); else ()."""
    found = repo.git("rev-parse", "--path-format=absolute", "--git-path", "shallow")
    path = Path(found.stdout.strip()) if found.returncode == 0 else None
    if path is None or not path.is_file():
        return ()
    return tuple(path.read_text(encoding="ascii").split())


def list_commits(repo: Repository, scope: Scope) -> list[Commit]:
    """The commits in `scope`, newest first (children before parents)."""
    refs = _refs(repo, scope)
    since = scope.since_time()
    argv = ["rev-list", "--topo-order", "--no-commit-header", f"--format={FORMAT}", "--stdin"]
    listed = repo.git_input(argv, "".join(f"{sha}\n" for sha, _ in refs))
    commits = _label([_parse(line) for line in listed.splitlines() if line], refs)
    return commits if since is None else [c for c in commits if c.time >= since]


def _refs(repo: Repository, scope: Scope) -> list[tuple[str, str]]:
    """(commit, display name) of each ref in scope: branches, remote branches, tags, experiments."""
    if scope.branch is not None:
        tip = repo.resolve(scope.branch).commit
        assert tip is not None
        found = [(tip, scope.branch)]
        base = set(repo.git_input(["rev-list", "--stdin"], f"{tip}\n").split())
    else:
        found = _named_refs(repo)
        base = None
    for sha, ref in repo.experiments():
        parts = ref.split("/")
        baseline = parts[2] + parts[3]
        if base is None or baseline in base:
            found.append((sha, f"exp {parts[4]}"))
    return found


def _named_refs(repo: Repository) -> list[tuple[str, str]]:
    fmt = "%(objectname)%00%(*objectname)%00%(refname)"
    listed = repo.git("for-each-ref", f"--format={fmt}", "refs/heads", "refs/remotes", "refs/tags")
    if listed.returncode != 0:
        raise RevError(f"git for-each-ref: {listed.stderr.strip()}")
    found = []
    for line in listed.stdout.splitlines():
        sha, peeled, ref = line.split("\0")
        if ref.endswith("/HEAD"):
            continue
        name = ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
        if ref.startswith("refs/tags/"):
            name = "tag " + ref.removeprefix("refs/tags/")
        found.append((peeled or sha, name))
    return found


def _parse(line: str) -> Commit:
    sha, parents, time, subject = line.split("\0", 3)
    return Commit(sha, tuple(parents.split()), int(time), subject, (), ())


def _label(commits: list[Commit], refs: list[tuple[str, str]]) -> list[Commit]:
    """Each commit with the refs at it and the refs whose history holds it: one pass from the
    newest, each ref a bit (children come before parents in `--topo-order`)."""
    names = list(dict.fromkeys(name for _, name in refs))
    bit = {name: 1 << i for i, name in enumerate(names)}
    at: dict[str, list[str]] = {}
    mask: dict[str, int] = {}
    for sha, name in refs:
        at.setdefault(sha, []).append(name)
        mask[sha] = mask.get(sha, 0) | bit[name]
    for commit in commits:
        held = mask.get(commit.sha, 0)
        for parent in commit.parents:
            mask[parent] = mask.get(parent, 0) | held
    return [
        Commit(
            c.sha,
            c.parents,
            c.time,
            c.subject,
            tuple(at.get(c.sha, ())),
            tuple(n for n in names if mask.get(c.sha, 0) & bit[n]),
        )
        for c in commits
    ]
