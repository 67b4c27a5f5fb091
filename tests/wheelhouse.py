"""A wheelhouse repacked from this environment's installed distributions, for offline pip installs.

tests/test_container.py runs the Dockerfile's ``pip install -c constraints.txt .`` in a clean
virtualenv. Rather than fetching every package from an index (slow, and impossible offline), it
installs with ``--no-index --find-links`` a wheelhouse built here from what the test environment
already has: the exact versions constraints.txt pins.

Method: a distribution that pip installed from a wheel is that wheel unpacked, and its RECORD
lists every file it put down. Zipping those files again under their original names, with the
installed ``.dist-info`` (its own WHEEL file keeps the tags and Root-Is-Purelib) and a freshly
written RECORD, gives back a valid wheel, for pure and binary distributions alike:

- files in the distribution's site-packages go to the wheel's root; files elsewhere in the
  environment go to ``<name>.data/``: ``headers`` (include/site/pythonX.Y/<name>), ``scripts``
  and ``data`` (the rest of the prefix, e.g. share/doc/...);
- console and GUI scripts are left out: pip writes them anew from entry_points.txt. Any other
  script had its ``#!python`` line rewritten to this interpreter at install; it is restored;
- ``__pycache__`` files, ``INSTALLER``, ``REQUESTED``, ``direct_url.json`` and the old RECORD are
  what the installer added, and are left out (pip compiles and writes its own);
- members are stored uncompressed, which a wheel allows: the wheelhouse (~700 MB) lives on a
  local disk for one test, and deflating it, even at level 1, took ten times as long to write
  and six times as long for pip to read back.

Neither alternative works without the network: pip's cache holds only what earlier runs fetched
(nothing is guaranteed to be there), and ``pip download``/``pip wheel`` need an index.

What goes in: the closure of the requirements given (for the container test, the project's
``[project.dependencies]`` and ``[build-system].requires``), resolved with importlib.metadata
against the running environment, extras and markers included. A requirement this environment
does not satisfy is an error naming it: the wheelhouse never falls back to an index.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import os
import re
import sys
import sysconfig
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# what the installer adds to a .dist-info; a wheel has none of them (pip writes them on install)
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
_CHUNK = 1 << 20


class MissingDistributionError(LookupError):
    """A requirement of the wheelhouse that the running environment does not satisfy."""


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions the requirements need, transitively (extras, markers)."""
    todo = [(Requirement(text), "") for text in requirements]  # (requirement, extra it is for)
    found: dict[str, metadata.Distribution] = {}
    extras_done: dict[str, set[str]] = {}
    missing: set[str] = set()
    while todo:
        requirement, for_extra = todo.pop()
        marker = requirement.marker
        if marker is not None and not marker.evaluate({"extra": for_extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in found:
            try:
                found[name] = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                missing.add(f"{requirement} (not installed)")
                continue
        dist = found[name]
        if not requirement.specifier.contains(dist.version, prereleases=True):
            missing.add(f"{requirement} (installed: {dist.version})")
        done = extras_done.setdefault(name, set())
        extras = {str(canonicalize_name(extra)) for extra in requirement.extras} - done
        if not done:
            extras.add("")  # the distribution's own requirements, the first time it is met
        done |= extras
        todo += [(Requirement(text), extra) for text in dist.requires or [] for extra in extras]
    if missing:
        raise MissingDistributionError(
            "the wheelhouse is built from this environment, which does not satisfy: "
            + "; ".join(sorted(missing))
        )
    return sorted(found.values(), key=lambda dist: canonicalize_name(dist.metadata["Name"]))


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _wheel_name(name: str, version: str, wheel_file: str) -> str:
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")
    ]
    if not tags:
        raise ValueError(f"{name} {version}: its WHEEL file names no tag")
    parts: list[list[str]] = [[], [], []]  # interpreters, ABIs, platforms, in the file's order
    for tag in tags:
        for seen, part in zip(parts, tag.split("-"), strict=True):
            for one in part.split("."):
                if one not in seen:
                    seen.append(one)
    escaped = re.sub(r"[-_.]+", "_", name).lower()
    return f"{escaped}-{version.replace('-', '_')}-" + "-".join(".".join(p) for p in parts) + ".whl"


def _entry_point_scripts(dist: metadata.Distribution) -> set[str]:
    groups = ("console_scripts", "gui_scripts")
    return {point.name for point in dist.entry_points if point.group in groups}


def _unfix_shebang(head: bytes, scripts: str) -> bytes:
    """A script's first line as in the wheel: pip made ``#!python`` this environment's python."""
    match = re.match(rb"#!(\S+)", head)
    if match:
        interpreter = os.fsdecode(match[1])
        in_env = os.path.dirname(interpreter) == os.path.abspath(scripts)
        if in_env and re.fullmatch(r"python[\d.]*", os.path.basename(interpreter)):
            return b"#!python" + head[match.end() :]
    return head


def _origin(path: str, root: str, name: str) -> tuple[str, str]:
    """Where an installed file was in its wheel: ("", path at the root) or (.data key, path)."""
    paths = sysconfig.get_paths()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    places = [("", root)]
    places += [(key, paths[key]) for key in ("purelib", "platlib")]
    places += [("scripts", paths["scripts"])]
    places += [("headers", os.path.join(sys.prefix, "include", "site", python, name))]
    places += [("data", paths["data"])]
    for key, place in places:
        base = os.path.abspath(place)
        if path.startswith(base.rstrip(os.sep) + os.sep):
            return key, PurePosixPath(*Path(os.path.relpath(path, base)).parts).as_posix()
    raise ValueError(f"{name}: {path} lies outside this environment")


def repack(dist: metadata.Distribution, wheelhouse: Path) -> Path:
    """Zip one installed distribution back into the wheel it was installed from."""
    name, version = dist.metadata["Name"], dist.version
    if dist.files is None:
        raise ValueError(f"{name} {version} has no RECORD: it was not installed from a wheel")
    info_dirs = {
        f.parts[0] for f in dist.files if len(f.parts) == 2 and f.parts[0].endswith(".dist-info")
    }
    if len(info_dirs) != 1:
        raise ValueError(f"{name} {version}: expected one .dist-info in RECORD, got {info_dirs}")
    (info_dir,) = info_dirs
    root = os.path.abspath(str(dist.locate_file("")))
    wheel_file = Path(root, info_dir, "WHEEL").read_text()
    generated = _entry_point_scripts(dist)
    members: list[tuple[str, str, bool]] = []  # (file on disk, name in the wheel, is a script)
    for entry in dist.files:
        if "__pycache__" in entry.parts or (
            entry.parts[0] == info_dir and entry.name in _INSTALLER_FILES
        ):
            continue
        path = os.path.abspath(str(dist.locate_file(entry)))
        key, relative = _origin(path, root, name)
        if key == "scripts" and entry.name in generated:
            continue  # a console script: pip writes it again from entry_points.txt
        if key:
            relative = f"{info_dir.removesuffix('.dist-info')}.data/{key}/{relative}"
        members.append((path, relative, key == "scripts"))
    target = wheelhouse / _wheel_name(name, version, wheel_file)
    record: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as wheel:
        for path, arcname, script in members:
            info = zipfile.ZipInfo.from_file(path, arcname, strict_timestamps=False)
            digest = hashlib.sha256()
            size = 0
            with open(path, "rb") as source, wheel.open(info, "w") as sink:
                first = True
                while chunk := source.read(_CHUNK):
                    if first and script:
                        chunk = _unfix_shebang(chunk, sysconfig.get_paths()["scripts"])
                    first = False
                    digest.update(chunk)
                    size += len(chunk)
                    sink.write(chunk)
            record.append(f"{arcname},{_record_hash(digest.digest())},{size}")
        record.append(f"{info_dir}/RECORD,,")
        wheel.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return target


def build_wheelhouse(requirements: Iterable[str], wheelhouse: Path) -> list[Path]:
    """Repack the installed closure of the requirements into wheelhouse; the wheels written."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    return [repack(dist, wheelhouse) for dist in closure(requirements)]
