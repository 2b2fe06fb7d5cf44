"""The local DVC cache as DVC 3 lays it out, in one place: where it is (`dvc cache dir`), where an
object is in it, the md5 DVC names a file by, a folder's `.dir` listing and the `.dvc` file that
`dvc add` writes for a folder. Every other module asks here; none spells `.dvc/cache` or
`files/md5` itself.

Where the cache is follows DVC's own rules (dvc/config.py, dvc/cachemgr.py): the config files
system, global, repo (`.dvc/config`) and local (`.dvc/config.local`), each shadowing the one
before; the `cache.dir` of the last file that sets one, a relative path being relative to that
file's folder (`~` expanded); else `.dvc/cache`. The files are read with configobj, as DVC reads
them, so nothing here imports `dvc` (the CLI starts without it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlrepro.core.errors import MlreproError
from mlrepro.core.files import READ_ONLY, atomic_path, digest_file

DVC_DIR = ".dvc"
CONFIG, CONFIG_LOCAL = "config", "config.local"  # in .dvc/ (repo level) and local level
DEFAULT = "cache"  # .dvc/cache, when no config sets cache.dir
HASH = "md5"  # DVC 3's hash: of a file's bytes as they are (DVC 2's md5-dos2unix is not used)
FILES = ("files", HASH)  # DVC 3 objects are under <cache dir>/files/md5/
DIR_SUFFIX = ".dir"  # the name of a folder's listing object: its md5 + .dir
URL = re.compile(r"\w+://")  # a remote's url, not a path (DVC's own test)


class CacheConfigError(MlreproError):
    """A DVC config file that cannot be read, or a cache that is not a local folder."""


@dataclass(frozen=True)
class Cache:
    """A local DVC 3 cache: each object under files/md5/<first two hex digits>/<the rest>."""

    dir: Path

    def object_path(self, name: str) -> Path:
        """The object named `name`: a file's md5, or a listing's md5 + `.dir`."""
        return Path(self.object_str(name))

    def object_str(self, name: str) -> str:
        """`object_path` as a string: no Path objects in loops over thousands of files."""
        return f"{self.dir}/{FILES[0]}/{FILES[1]}/{name[:2]}/{name[2:]}"


def local_cache(repo: Path) -> Cache:
    """The DVC cache of the repo at `repo`, where `dvc cache dir` says it is."""
    return Cache(cache_dir(repo))


def object_path(repo: Path, name: str) -> Path:
    """Where the repo's DVC cache keeps the object `name` (an md5, or md5 + `.dir`)."""
    return local_cache(repo).object_path(name)


def content_md5(name: str) -> str:
    """The md5 an object's content has: its name without `.dir`."""
    return name.removesuffix(DIR_SUFFIX)


def file_md5(path: str | Path) -> tuple[str, int]:
    """The md5 DVC names a file's object by, and the file's size."""
    digest = digest_file(path, HASH)
    return digest[HASH], digest.bytes


# --- where the cache is ---------------------------------------------------------------------


def config_files(repo: Path) -> list[Path]:
    """DVC's config files, in the order they shadow each other: system, global, repo, local.
    The first two are where DVC looks (dvc/dirs.py): $DVC_SYSTEM_CONFIG_DIR, else platformdirs'
    site config dir (/etc/xdg/dvc on Linux); $DVC_GLOBAL_CONFIG_DIR, else the user config dir
    (~/.config/dvc)."""
    import platformdirs

    system = os.getenv("DVC_SYSTEM_CONFIG_DIR") or platformdirs.site_config_dir("dvc", "iterative")
    user = os.getenv("DVC_GLOBAL_CONFIG_DIR") or platformdirs.user_config_dir("dvc", "iterative")
    dvc_dir = Path(repo) / DVC_DIR
    return [Path(system) / CONFIG, Path(user) / CONFIG, dvc_dir / CONFIG, dvc_dir / CONFIG_LOCAL]


def default_dir(repo: Path) -> Path:
    """Where DVC keeps the cache when no config names one."""
    return Path(repo) / DVC_DIR / DEFAULT


def cache_dir(repo: Path) -> Path:
    """The repo's cache dir, as `dvc cache dir` prints it (see the module docstring). Read once
    per state of the config files (their inode, size, mtime and ctime)."""
    files = config_files(repo)
    return _cache_dir(Path(repo), tuple((str(f), _stamp(f)) for f in files))


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@lru_cache(maxsize=64)
def _cache_dir(repo: Path, files: tuple[tuple[str, Any], ...]) -> Path:
    merged: dict[str, Any] = {}
    for name, stamp in files:
        if stamp is not None:
            _merge(merged, read_config(Path(name)))
    cache = merged.get("cache") or {}
    if cache.get("local"):  # deprecated: the name of a remote whose url is the cache
        remote = (merged.get("remote") or {}).get(str(cache["local"])) or {}
        where, what = remote.get("url"), f"the url of remote {cache['local']!r} (cache.local)"
    else:
        where, what = cache.get("dir"), "cache.dir"
    if not where:  # DVC: `config.get("dir") or default`
        return default_dir(repo)
    if URL.match(str(where)):
        raise CacheConfigError(f"DVC {what} {where}: not a local folder (mlrepro needs one)")
    return Path(where)


def read_config(path: Path) -> dict[str, Any]:
    """One config file as DVC reads it: section and option names lower-cased, `remote "name"`
    sections under "remote", and cache.dir and remote urls resolved against the file's folder."""
    from configobj import ConfigObj, ConfigObjError

    try:
        raw = ConfigObj(str(path), file_error=True, encoding="utf-8").dict()
    except FileNotFoundError:  # removed since it was looked at: as DVC, no such level
        return {}
    except (OSError, UnicodeDecodeError, ConfigObjError) as exc:
        raise CacheConfigError(f"{path}: not a readable DVC config ({exc})") from None
    conf: dict[str, Any] = {"remote": {}}
    for section, values in _lower(raw).items():
        named = re.match(r'^\s*remote\s*"(.*)"\s*$', section)
        if named and isinstance(values, dict):
            conf["remote"][named.group(1)] = values
        else:
            conf[section] = values
    folder = path.parent.absolute()
    if isinstance(conf.get("cache"), dict) and "dir" in conf["cache"]:
        conf["cache"]["dir"] = _resolve(folder, str(conf["cache"]["dir"]))
    for remote in conf["remote"].values():
        if "url" in remote:
            remote["url"] = _resolve(folder, str(remote["url"]))
    return conf


def _resolve(folder: Path, path: str) -> str:
    """DVC's Config._resolve (POSIX): urls and absolute paths as they are, `~` expanded, a
    relative path relative to the config file's folder."""
    if URL.match(path) or os.path.isabs(path):
        return path
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.abspath(folder / path)


def _lower(data: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): _lower(v) if isinstance(v, dict) else v for k, v in data.items()}


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    """DVC's config merge: a later level's option replaces an earlier one's, section by section."""
    for key, value in update.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge(into[key], value)
        else:
            into[key] = value


# --- what `dvc add` writes for a folder -----------------------------------------------------


def dir_listing(files: Iterable[tuple[str, str]]) -> bytes:
    """DVC's `.dir` object for a folder of files given as (relative path, md5): serialized as
    dvc-data does (json.dumps of the list sorted by relpath, sort_keys=True)."""
    entries = sorted(({"md5": md5, "relpath": rel} for rel, md5 in files), key=_relpath)
    return json.dumps(entries, sort_keys=True).encode("utf-8")


def _relpath(entry: dict[str, str]) -> str:
    return entry["relpath"]


def listing_name(listing: bytes) -> str:
    """The object name of a `.dir` listing: the md5 of its bytes + `.dir`."""
    return hashlib.md5(listing).hexdigest() + DIR_SUFFIX


def write_listing(cache: Cache, listing: bytes) -> str:
    """Store a `.dir` listing in the cache (read-only, once); returns its object name."""
    name = listing_name(listing)
    path = cache.object_path(name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(listing)
        path.chmod(READ_ONLY)
    return name


def read_listing(data: bytes) -> list[dict[str, Any]]:
    """The entries of a `.dir` listing that name a file (md5 and relpath); [] when the bytes are
    not a listing (a damaged object: whoever checks its md5 reports it)."""
    try:
        listing = json.loads(data)
        return [e for e in listing if isinstance(e, dict) and "md5" in e and "relpath" in e]
    except (ValueError, TypeError):
        return []


def write_dvc_file(path: Path, listing: str, *, size: int, nfiles: int) -> None:
    """The `.dvc` file `dvc add` writes for the folder beside it named as the file's stem, whose
    `.dir` listing object is `listing` (atomically)."""
    record = (
        f"outs:\n- md5: {listing}\n  size: {size}\n  nfiles: {nfiles}\n  hash: {HASH}\n"
        f"  path: {path.stem}\n"
    )
    with atomic_path(path) as tmp:
        tmp.write_text(record, encoding="utf-8")
