"""Content-addressed image store: each source image is read, hashed and decoded once."""

from __future__ import annotations

import hashlib
import io
import shutil
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from .errors import SourceError
from .paths import UnsafePath, read_regular

_SUFFIX = {".jpeg": ".jpg"}


class BadImage(ValueError):
    """An image file that cannot be used; the message says why (empty, not an image, truncated, too large)."""


def decoded(source: Path | BinaryIO) -> Image.Image:
    """The fully decoded image (use it as a context manager to close it), or BadImage.

    A path is read only if it is a regular file (a FIFO would block, see
    paths.read_regular). Pixels are decoded here, not lazily later, so a
    truncated file fails at this point; PIL's decompression-bomb guard applies
    at its warning threshold (MAX_IMAGE_PIXELS), not only at twice that.
    """
    if isinstance(source, Path):
        try:
            data = read_regular(source)
        except FileNotFoundError:
            raise BadImage("file not found") from None
        except UnsafePath as error:
            raise BadImage(str(error)) from None
        except OSError as error:
            raise BadImage(f"unreadable ({error.strerror or error})") from None
        if not data:
            raise BadImage("empty file")
        source = io.BytesIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(source)
            try:
                image.load()
            except BaseException:
                image.close()
                raise
            return image
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            reason = f"too large to decode safely ({error})"
        except UnidentifiedImageError:
            reason = "not an image (unknown format)"
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            reason = f"corrupt or truncated image ({error})"
    raise BadImage(reason)


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    name: str
    """Path inside the built benchmark, `images/<sha256><ext>`."""
    source: Path
    width: int
    height: int


class ImageStore:
    """Maps source image paths to content-addressed names.

    The same photo referenced from several places (a test image that is also a
    VQA image and a recognition positive) is read and hashed once; two files
    with equal bytes share one stored image, which is how the leakage check
    spots a test photo copied into the training folder.
    """

    def __init__(self, source_root: Path) -> None:
        self.source_root = source_root
        self._by_path: dict[Path, StoredImage] = {}
        self.files_read = 0

    def ingest(self, paths: Iterable[Path], advance: Callable[[], None] = lambda: None) -> None:
        for path in paths:
            if path not in self._by_path:
                self._by_path[path] = self._read(path)
            advance()

    def display(self, path: Path) -> str:
        """The path as the manifest names it: relative to the source, or `bundled:<name>` for a bundled image."""
        return path.relative_to(self.source_root).as_posix() if path.is_relative_to(self.source_root) \
            else f"bundled:{path.name}"

    def _read(self, path: Path) -> StoredImage:
        display = self.display(path)
        try:
            data = read_regular(path)
        except UnsafePath as exc:
            raise SourceError(display, "", str(exc), "replace it with a regular image file") from None
        except OSError as exc:
            raise SourceError(display, "", f"image cannot be read: {exc.strerror}", "restore the file") from None
        self.files_read += 1
        try:
            with decoded(io.BytesIO(data)) as image:
                width, height = image.size
        except BadImage as exc:
            raise SourceError(display, "", f"image is corrupt or not an image ({exc})",
                              "replace it with a valid PNG or JPEG") from None
        digest = hashlib.sha256(data).hexdigest()
        suffix = _SUFFIX.get(path.suffix.lower(), path.suffix.lower())
        return StoredImage(digest, f"images/{digest}{suffix}", path, width, height)

    def __getitem__(self, path: Path) -> StoredImage:
        return self._by_path[path]

    def name(self, path: Path) -> str:
        return self._by_path[path].name

    def stored(self) -> list[StoredImage]:
        """Distinct stored images, one per content, sorted by name."""
        unique: dict[str, StoredImage] = {}
        for image in self._by_path.values():
            unique.setdefault(image.name, image)
        return [unique[name] for name in sorted(unique)]

    def origins(self) -> dict[str, list[str]]:
        """Stored name -> every source path with that content, for the manifest and card."""
        result: dict[str, list[str]] = {}
        for path, image in self._by_path.items():
            result.setdefault(image.name, []).append(self.display(path))
        return {name: sorted(paths) for name, paths in sorted(result.items())}

    def write(self, out_dir: Path, advance: Callable[[], None] = lambda: None) -> None:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        for image in self.stored():
            shutil.copyfile(image.source, out_dir / image.name)
            advance()
