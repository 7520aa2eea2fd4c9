"""The synergistic reward ensemble (paper Sec. 4.2, App. G), computed with the evaluators' scorers.

Paper rewards: TIER (reasoning text vs the concept's candidate facts),
BER (BLIP-2 image-text), DER (DINOv2 to the reference photos), FER (FaceNet,
persons only). Offline stand-ins for the tiny preset, under their own names:
`colour`, `ssim`, `face` (MTCNN face probability). `clip_mix` is the authors'
screening score, 0.65 CLIP-I + 0.35 CLIP-T. The authors' released recipe
(`chawuciren11/Sync-R1` `grpo.py`, the `authors` preset) adds `text_bleu`,
`clip_identity` and `vlm_identity`. Every component is returned per sample, so
the trainer logs each one.
"""

from __future__ import annotations

import importlib
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from evaluators.scorers.unavailable import ScorerUnavailable
from evaluators.scoring_config import ScoringConfig
from evaluators.text_metrics import bleu
from unifybench_pp.errors import SettingsError, UbppError
from unifybench_pp.schema import Concept

from .config import RewardConfig

if TYPE_CHECKING:  # scoring loads torch; the reward table (`ubpp doctor`) must not
    import torch

    from evaluators.scoring import Scorers


@dataclass
class RewardSample:
    concept: Concept
    reasoning: str
    """Phase I output."""
    candidates: list[str]
    """Facts TIER compares the reasoning with."""
    truth: list[float]
    """1 for the facts the reasoning should state, 0 for the others."""
    prompt: str
    """The compound prompt in plain words (concept token -> class noun), for BER / CLIP-T."""
    image: Image.Image | None
    references: list[Path]


def tier(reasoning: torch.Tensor, candidates: torch.Tensor, truth: torch.Tensor) -> float:
    """1 - ||s - y|| / (2 sqrt(K)), s the cosine of the reasoning to each of K candidates (normalized embeddings)."""
    similarity = candidates @ reasoning
    return float(1 - (similarity - truth).norm() / (2 * len(truth) ** 0.5))


def _tier(scorers: Scorers, samples: list[RewardSample]) -> list[float]:
    embedder = scorers.get("text_sim")
    texts = list(dict.fromkeys([s.reasoning for s in samples] + [c for s in samples for c in s.candidates]))
    index = {text: k for k, text in enumerate(texts)}
    features = embedder.embed(texts)
    return [tier(features[index[s.reasoning]], features[[index[c] for c in s.candidates]],
                 features.new_tensor(s.truth)) for s in samples]


def _images(samples: list[RewardSample]) -> list[Image.Image]:
    return [s.image for s in samples]


def _refs(samples: list[RewardSample]) -> list[list[Path]]:
    return [s.references for s in samples]


def _clip_mix(scorers: Scorers, samples: list[RewardSample]) -> list[float]:
    clip = scorers.get("clip")
    image_scores = clip.clip_i(_images(samples), _refs(samples))
    text_scores = clip.clip_t(_images(samples), [s.prompt for s in samples])
    return [0.65 * i + 0.35 * t for i, t in zip(image_scores, text_scores)]


def _text_bleu(scorers: Scorers, samples: list[RewardSample]) -> list[float]:
    """The authors' text reward: character BLEU of the reasoning against each candidate fact, normalised to sum 1,
    squared distance d to the truth vector, f = (2 - d) / 2, then 0 at or below 0.5 and 2(f - 0.5) above."""
    out = []
    for s in samples:
        scores = [bleu(candidate, s.reasoning) for candidate in s.candidates]
        total = sum(scores)
        shares = [x / total for x in scores] if total else [0.0] * len(scores)
        f = (2.0 - sum((a - b) ** 2 for a, b in zip(s.truth, shares))) / 2
        out.append(0.0 if f <= 0.5 else 2 * (f - 0.5))
    return out


def _clip_identity(scorers: Scorers, samples: list[RewardSample]) -> list[float]:
    """The authors' identity reward for non-persons: CLIP-I, 0 at or below 0.5 and 2(s - 0.5) above."""
    return [0.0 if s <= 0.5 else 2 * (s - 0.5) for s in scorers.get("clip").clip_i(_images(samples), _refs(samples))]


VLM_ATTEMPTS = 5
"""The authors ask again until the reply lists one score per image, at most this many times."""


def _vlm_identity(scorers: Scorers, samples: list[RewardSample]) -> list[float]:
    """The authors' VLM judge: one request per group, the concept's first reference photo then every generated
    image, their prompt; the reply's last [...] list, one 1-100 score per image, divided by 100. Asked again (a
    fresh cache entry) while the list does not match the images; then a clear error, never a made-up score."""
    from evaluators.judge import JudgeRequest

    judge = scorers.get("judge")
    with tempfile.TemporaryDirectory(prefix="ubpp-vlm-") as folder:
        paths = [samples[0].references[0]]
        for k, sample in enumerate(samples):
            paths.append(Path(folder) / f"{k}.png")
            sample.image.save(paths[-1])
        replies = []
        for attempt in range(VLM_ATTEMPTS):
            result = judge.run([JudgeRequest("group_identity_score", {}, tuple(paths), repeat=attempt)])[0]
            replies.append(result.reply if result.ok else f"(no reply: {result.error})")
            scores = _score_list(result.reply or "")
            if scores is not None and len(scores) == len(samples):
                return [x / 100 for x in scores]
    raise UbppError(f"the VLM judge did not score {len(samples)} images in {VLM_ATTEMPTS} tries; last reply: "
                     f"{replies[-1][:200]!r}")


def _score_list(reply: str) -> list[float] | None:
    """The last bracketed list of numbers in a reply (the authors' parser takes the last [...] match)."""
    found = re.findall(r"\[([^\[\]]*)\]", reply)
    if not found:
        return None
    try:
        return [float(x) for x in found[-1].replace(",", " ").split()]
    except ValueError:
        return None


@dataclass(frozen=True)
class Reward:
    needs: str | None
    """The evaluators' scorer it uses (`Scorers.get`), the name `evaluators.availability.check` knows; None for a
    user's reward, which brings its own models."""
    compute: Callable[[Scorers, list[RewardSample]], list[float]]
    description: str


REWARDS: dict[str, Reward] = {
    "tier": Reward("text_sim", _tier, "TIER: reasoning vs the concept's facts (paper)"),
    "ber": Reward("blip2", lambda sc, ss: sc.get("blip2").similarity(_images(ss), [s.prompt for s in ss]),
                  "BER: BLIP-2 image-text (paper)"),
    "der": Reward("dino", lambda sc, ss: sc.get("dino").similarity(_images(ss), _refs(ss)),
                  "DER: DINOv2 to the reference photos (paper)"),
    "fer": Reward("facenet", lambda sc, ss: [f.score for f in sc.get("facenet").similarity(_images(ss), _refs(ss))],
                  "FER: FaceNet face identity, persons (paper)"),
    "clip_mix": Reward("clip", _clip_mix, "0.65 CLIP-I + 0.35 CLIP-T (the authors' DGS surrogate)"),
    "text_bleu": Reward(None, _text_bleu, "character BLEU to the candidate facts (the authors' text reward)"),
    "clip_identity": Reward("clip", _clip_identity, "CLIP-I thresholded at 0.5 (the authors' identity reward)"),
    "vlm_identity": Reward("judge", _vlm_identity, "VLM judge's 1-100 identity score of the group (the authors')"),
    "colour": Reward("pixels", lambda sc, ss: sc.get("pixels").colour(_images(ss), _refs(ss)),
                     "colour histogram intersection (offline stand-in)"),
    "ssim": Reward("pixels", lambda sc, ss: sc.get("pixels").ssim(_images(ss), _refs(ss)),
                   "SSIM at 32 px (offline stand-in)"),
    "face": Reward("mtcnn", lambda sc, ss: sc.get("mtcnn").face_probability(_images(ss)),
                   "MTCNN face probability (offline stand-in)"),
}


def reward(name: str) -> Reward:
    """A built-in reward by name, or a user's as `module:function` (TRL's way: a plain callable, no package edit).

    The function takes the group's `RewardSample`s (concept, reasoning, candidate facts and truth, the compound
    prompt in plain words, the generated image, the concept's reference photos) and returns one float per sample;
    it is imported from the Python path (`PYTHONPATH=. ubpp train ... --set 'rewards.weights={tier: 0.4,
    "my_rewards:brightness": 0.6}'`) and logged under its name like the built-in ones.
    """
    if name in REWARDS:
        return REWARDS[name]
    module, colon, attribute = name.partition(":")
    if not colon:
        raise SettingsError(f"unknown reward {name!r}; rewards are {', '.join(REWARDS)}, or a function as "
                            "module:function")
    try:
        function = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise SettingsError(f"reward {name!r} cannot be imported ({error}); is {module} on the Python path?") from None
    if not callable(function):
        raise SettingsError(f"reward {name!r} is not a function")
    return Reward(None, lambda scorers, samples: function(samples), f"user reward {name}")


def scoring_config(config: RewardConfig, device: str | None = None) -> ScoringConfig:
    """The evaluators' scorer settings for these rewards."""
    return ScoringConfig(clip=config.clip, text_embedder=config.text_embedder, dinov2=config.dinov2,
                         blip2=config.blip2, facenet=config.facenet, device=device, judge_model=config.judge,
                         judge_base_url=config.judge_base_url)


REWARD_MODEL_SETTINGS = {"blip2": "blip2", "dino": "dinov2", "facenet": "facenet", "clip": "clip",
                         "text_sim": "text_embedder", "judge": "judge_base_url"}
"""The `rewards.*` setting that names each scorer's model."""


def training_option(scorer: str, value: str) -> str:
    """How a fix names a reward's model to a training user (`--plan`, `ubpp doctor`): `--set rewards.blip2=PATH`,
    where evaluate's users read `--blip2 PATH` (`evaluators.availability.check`'s `option`)."""
    return f"--set rewards.{REWARD_MODEL_SETTINGS[scorer]}={value}"


class RewardEnsemble:
    def __init__(self, config: RewardConfig, device: str | None = None) -> None:
        self.rewards = {name: reward(name) for name in dict.fromkeys([*config.weights, config.fallback])}
        self.config = config
        from evaluators.scoring import Scorers

        self.scorers = Scorers(scoring_config(config, device))

    def require(self, names: list[str]) -> None:
        """Load every scorer the named rewards need now, so a missing model stops training before step 1."""
        for name in names:
            needs = reward(name).needs
            if needs is None:
                continue
            try:
                self.scorers.get(needs)
            except ScorerUnavailable as error:
                raise ScorerUnavailable(f"reward {name!r} cannot be computed: {error}") from None

    def weights(self, concept: Concept) -> dict[str, float]:
        """The configured weights, with person-only rewards' weight moved to the fallback for pets and objects."""
        weights = dict(self.config.weights)
        if concept.category != "person":
            for name in self.config.person_only:
                if name in weights:
                    weights[self.config.fallback] = weights.get(self.config.fallback, 0.0) + weights.pop(name)
        return weights

    def compute(self, name: str, samples: list[RewardSample]) -> list[float]:
        """One finite float per sample, or a one-line error naming the reward: a NaN would silently turn every
        advantage of the group into NaN, and a user's function may return anything."""
        try:
            returned = (self.rewards.get(name) or reward(name)).compute(self.scorers, samples)
        except Exception as error:
            if ":" in name and hasattr(error, "add_note"):  # a user's function: its traceback, named (3.11+)
                error.add_note(f"raised by the custom reward {name!r} (rewards.weights); training stopped at this step")
            raise
        try:
            values = [float(v) for v in returned]
        except (TypeError, ValueError):
            raise SettingsError(f"reward {name!r} must return one number per sample, not {returned!r:.200}") from None
        if len(values) != len(samples):
            raise SettingsError(f"reward {name!r} returned {len(values)} values for {len(samples)} samples")
        if not all(math.isfinite(v) for v in values):
            raise SettingsError(f"reward {name!r} returned a value that is not a finite number: {values!r:.200}")
        return values

    def score(self, samples: list[RewardSample]) -> list[dict[str, float | None]]:
        """Per sample: every configured component (None where it does not apply) and the weighted `total`."""
        weights = [self.weights(s.concept) for s in samples]
        rows: list[dict[str, float | None]] = [{} for _ in samples]
        for name in dict.fromkeys([*self.config.weights, *(name for weight in weights for name in weight)]):
            applies = [k for k, w in enumerate(weights) if name in w]
            values = self.compute(name, [samples[k] for k in applies]) if applies else []
            for row in rows:
                row[name] = None
            for k, value in zip(applies, values):
                rows[k][name] = value
        for row, weight in zip(rows, weights):
            row["total"] = sum(w * float(row[name]) for name, w in weight.items())
        return rows
