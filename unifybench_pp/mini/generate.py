"""Regenerate the bundled mini source's photos from scikit-image's sample data.

scikit-image ships one real photograph per subject, so each concept's other
views are derived by the crops, flips and colour shifts listed in `VIEWS`;
`mini/image_credits.json` records each photo's origin, licence and
derivation (beside the source folder, not in it: the source is laid out
exactly as the authors' release, which has no such file). The text files of
the mini source (info.json, t2i_conditions.json, test_data/*.json) are
hand-written and not touched here.

    python -m unifybench_pp.mini.generate      # rewrites mini/source/**/*.jpg and mini/image_credits.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SIZE = 256
JPEG_QUALITY = 90
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Photo:
    loader: str
    """Function name in `skimage.data`."""
    origin: str
    license: str


#: concept id -> the scikit-image photo it is built from.
CONCEPT_PHOTOS = {
    "ast": Photo("astronaut", "scikit-image data: astronaut Eileen Collins, NASA Great Images", "public domain"),
    "cam": Photo("camera", "scikit-image data: 'camera', photographer Lav Varshney", "CC0"),
    "chelsea": Photo("chelsea", "scikit-image data: Chelsea the cat, photographer Stefan van der Walt", "CC0"),
    "coffee": Photo("coffee", "scikit-image data: coffee cup, photographer Rachel Michetti", "CC0"),
    "rocket": Photo("rocket", "scikit-image data: DSCOVR launch on Falcon 9, SpaceX", "public domain"),
    "coins": Photo("coins", "scikit-image data: Greek coins from Pompeii, Brooklyn Museum",
                   "no known copyright restrictions"),
}

#: Distractor photos for `random_images/`, in file order.
DISTRACTOR_PHOTOS = [
    Photo("brick", "scikit-image data: brick wall, CC0Textures", "CC0"),
    Photo("grass", "scikit-image data: grass, DeviantArt linolafett", "CC0"),
    Photo("gravel", "scikit-image data: gravel, CC0Textures", "CC0"),
    Photo("hubble_deep_field", "scikit-image data: Hubble eXtreme Deep Field, NASA", "public domain"),
    Photo("immunohistochemistry", "scikit-image data: IHC staining, CMMI", "no known copyright restrictions"),
    Photo("retina", "scikit-image data: human retina, Mikael Häggström", "CC0"),
    Photo("moon", "scikit-image data: surface of the moon", "public domain (scikit-image sample)"),
    Photo("page", "scikit-image data: scanned page", "public domain (scikit-image sample)"),
    Photo("cell", "scikit-image data: cell in saline, Paul Müller et al.", "CC0"),
    Photo("text", "scikit-image data: 'text' corner image, Wikipedia", "public domain"),
    Photo("clock", "scikit-image data: motion-blurred clock, Stefan van der Walt", "public domain"),
]


@dataclass(frozen=True)
class View:
    box: tuple[float, float, float, float]
    """Crop box as fractions (left, top, right, bottom) of the photo."""
    flip: bool = False
    colour: tuple[float, float, float] | None = None
    """Per-channel gain (R, G, B) and +10% brightness when set."""

    def describe(self) -> str:
        parts = [] if self.box == (0, 0, 1, 1) else [f"crop {self.box}"]
        parts += ["horizontal flip"] if self.flip else []
        parts += [f"colour shift RGB gains {self.colour}, brightness x1.1"] if self.colour else []
        return ", ".join(parts + [f"centre square, resized to {SIZE}px"])


#: (split, file name, view) for every concept; boxes keep the top of the photo so faces stay in view.
VIEWS = [
    ("train", "0.jpg", View((0, 0, 1, 1))),
    ("train", "1.jpg", View((0, 0, 0.85, 0.85))),
    ("train", "2.jpg", View((0, 0, 1, 1), flip=True)),
    ("test", "0.jpg", View((0.15, 0, 1, 0.85), flip=True)),
    ("test", "1.jpg", View((0.05, 0, 0.95, 0.9), colour=(1.08, 1.0, 0.9))),
]


def _photo(loader: str) -> Image.Image:
    import skimage.data

    array = np.asarray(getattr(skimage.data, loader)())
    return Image.fromarray(array).convert("RGB")


def render(photo: Image.Image, view: View) -> Image.Image:
    """Apply a view: crop box, centre square, resize, then flip and colour shift."""
    w, h = photo.size
    left, top, right, bottom = view.box
    region = photo.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    rw, rh = region.size
    side = min(rw, rh)
    x0 = (rw - side) // 2
    image = region.crop((x0, 0, x0 + side, side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    if view.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if view.colour:
        gains = np.asarray(view.colour, dtype=np.float32)
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) * gains, 0, 255).astype(np.uint8))
        image = ImageEnhance.Brightness(image).enhance(1.1)
    return image


def generate(source_root: Path) -> dict[str, dict[str, str]]:
    """Write every photo of the mini source under `source_root`; returns the image credits."""
    credits = {}
    for concept, photo in CONCEPT_PHOTOS.items():
        original = _photo(photo.loader)
        for split, name, view in VIEWS:
            path = source_root / "concept" / split / concept / name
            path.parent.mkdir(parents=True, exist_ok=True)
            render(original, view).save(path, quality=JPEG_QUALITY)
            credits[path.relative_to(source_root).as_posix()] = {
                "origin": photo.origin, "license": photo.license, "derivation": view.describe(),
            }
    (source_root / "random_images").mkdir(parents=True, exist_ok=True)
    for i, photo in enumerate(DISTRACTOR_PHOTOS):
        path = source_root / "random_images" / f"{i}.jpg"
        render(_photo(photo.loader), View((0, 0, 1, 1))).save(path, quality=JPEG_QUALITY)
        credits[path.relative_to(source_root).as_posix()] = {
            "origin": photo.origin, "license": photo.license, "derivation": View((0, 0, 1, 1)).describe(),
        }
    return credits


def main() -> None:
    credits = generate(HERE / "source")
    (HERE / "image_credits.json").write_text(json.dumps(credits, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")


if __name__ == "__main__":
    main()
