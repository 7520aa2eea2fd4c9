"""Faces: MTCNN detection (weights ship with facenet-pytorch) and FaceNet identity cosine (FER).

FaceNet's weights do not ship with the package: pass `facenet="vggface2"` to
let facenet-pytorch download them, or a local state-dict file. Without them
face detection still works (the offline `face` reward) and FaceNet cosine is
reported as not computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .base import ImageInput, ScorerUnavailable, pick_device, to_pil, unavailable

MTCNN_ID = "facenet-pytorch MTCNN (bundled weights)"
MIN_SIDE = 24
"""Images smaller than this hold no detectable face (MTCNN's default minimum face is 20 px)."""
DETECT_BATCH = 16
"""Equal-sized images per MTCNN call (its image pyramid runs on them as one tensor)."""


@dataclass(frozen=True)
class FaceScore:
    score: float
    """Mean cosine to the reference faces; 0 when no face is found."""
    face_found: bool


class FaceScorer:
    def __init__(self, facenet: str | None = None, device: str | None = None, image_size: int = 160) -> None:
        from facenet_pytorch import MTCNN, InceptionResnetV1

        self.device = pick_device(device)
        self._mtcnn = MTCNN(image_size=image_size, margin=0, keep_all=False, select_largest=True, device=self.device)
        self.detector_id = MTCNN_ID
        self.model_id: str | None = None
        self._facenet = None
        if facenet is not None:
            try:
                if facenet in ("vggface2", "casia-webface"):
                    net = InceptionResnetV1(pretrained=facenet)
                else:
                    net = InceptionResnetV1()
                    net.load_state_dict(torch.load(facenet, map_location="cpu", weights_only=True))
            except Exception as error:
                raise unavailable("FaceNet", facenet, error) from error
            self._facenet = net.to(self.device).eval()
            self.model_id = f"facenet-pytorch InceptionResnetV1 ({facenet})"
        self._reference_cache: dict[str, torch.Tensor | None] = {}

    @torch.inference_mode()
    def detect(self, images: Sequence[ImageInput]) -> list[tuple[torch.Tensor | None, float]]:
        """Aligned crop of the largest face and its detection probability (None, 0.0 when no face), as
        `MTCNN(image, return_prob=True)` gives them one image at a time.

        Detection runs on equal-sized images together (MTCNN batches only those; a model's outputs share a size),
        10x faster than one by one on small images. Selection and cropping stay per image: MTCNN's own batched
        selection fails when some images of a batch hold a face and others do not."""
        pictures = [to_pil(image) for image in images]
        results: list[tuple[torch.Tensor | None, float]] = [(None, 0.0)] * len(pictures)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, picture in enumerate(pictures):
            if min(picture.size) >= MIN_SIDE:  # MTCNN's image pyramid is empty below its smallest face
                by_size.setdefault(picture.size, []).append(index)
        mtcnn = self._mtcnn
        for indices in by_size.values():
            for start in range(0, len(indices), DETECT_BATCH):
                chunk = indices[start:start + DETECT_BATCH]
                boxes, probs, points = mtcnn.detect([pictures[i] for i in chunk], landmarks=True)
                for i, box, prob, point in zip(chunk, boxes, probs, points, strict=True):
                    box, prob, _ = mtcnn.select_boxes(box, prob, point, pictures[i], method=mtcnn.selection_method)
                    crop = mtcnn.extract(pictures[i], box, None)
                    if crop is not None:
                        results[i] = (crop, float(prob))
        return results

    def face_probability(self, images: Sequence[ImageInput]) -> list[float]:
        return [prob for _, prob in self.detect(images)]

    @torch.inference_mode()
    def _embed(self, crops: list[torch.Tensor]) -> torch.Tensor:
        return F.normalize(self._facenet(torch.stack(crops).to(self.device)).float(), dim=-1).cpu()

    def _reference(self, path: Path | str) -> torch.Tensor | None:
        key = str(path)
        if key not in self._reference_cache:
            crop, _ = self.detect([path])[0]
            self._reference_cache[key] = None if crop is None else self._embed([crop])[0]
        return self._reference_cache[key]

    def similarity(self, images: Sequence[ImageInput], references: Sequence[Sequence[Path | str]]) -> list[FaceScore]:
        if self._facenet is None:
            raise ScorerUnavailable("FaceNet weights not given: pass facenet='vggface2' or a local state-dict file")
        detections = self.detect(images)
        found = [crop for crop, _ in detections if crop is not None]
        embedded = iter(self._embed(found)) if found else iter(())
        scores = []
        for (crop, _), refs in zip(detections, references, strict=True):
            if crop is None:
                scores.append(FaceScore(0.0, False))
                continue
            feature = next(embedded)
            ref_features = [f for f in (self._reference(r) for r in refs) if f is not None]
            if not ref_features:
                scores.append(FaceScore(0.0, True))
                continue
            scores.append(FaceScore(float((torch.stack(ref_features) @ feature).mean()), True))
        return scores

