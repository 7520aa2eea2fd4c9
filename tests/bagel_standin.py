"""A stand-in for BAGEL's `InterleaveInferencer`: its `interleave_inference` signature as BAGEL's `inferencer.py`
declares it, with outputs drawn from torch's global stream, so that the inputs, settings and seeds our
`bagel-tp` / `bagel-ip` adapter gives can be checked offline. It tests our adapter, not BAGEL.

Registered as a plugin adapter (`bagel-standin-tp` / `-ip`) by the tests, through the `ubpp.models` entry
points a user's package would use.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from baselines.bagel import Bagel, BagelSampling


class StandInInferencer:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], dict[str, Any]]] = []

    def interleave_inference(self, input_lists, think=False, understanding_output=False, max_think_token_n=1000,
                             do_sample=False, text_temperature=0.3, cfg_text_scale=3.0, cfg_img_scale=1.5,
                             cfg_interval=[0.4, 1.0], timestep_shift=3.0, num_timesteps=50,  # noqa: B006 (BAGEL's)
                             cfg_renorm_min=0.0, cfg_renorm_type="global", image_shapes=(1024, 1024)) -> list:
        settings = {"think": think, "understanding_output": understanding_output,
                    "max_think_token_n": max_think_token_n, "do_sample": do_sample,
                    "text_temperature": text_temperature, "cfg_text_scale": cfg_text_scale,
                    "cfg_img_scale": cfg_img_scale, "cfg_interval": cfg_interval, "timestep_shift": timestep_shift,
                    "num_timesteps": num_timesteps, "cfg_renorm_min": cfg_renorm_min,
                    "cfg_renorm_type": cfg_renorm_type, "image_shapes": image_shapes}
        self.calls.append((list(input_lists), settings))
        for term in input_lists:
            if isinstance(term, Image.Image):
                image_shapes = term.size[::-1]  # as BAGEL: the last input image sets the output shape
            elif not isinstance(term, str):
                raise ValueError(f"Unsupported input type: {type(term)}")
        if understanding_output:
            words = ("Yes", "No", "a", "photo", "of")
            return [" ".join(words[k] for k in torch.randint(0, len(words), (4,)).tolist())]
        height, width = image_shapes
        return [Image.fromarray((torch.rand(height, width, 3) * 255).to(torch.uint8).numpy())]


def bagel_standin_tp(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Bagel:
    return Bagel(StandInInferencer(), BagelSampling("tp", **options))


def bagel_standin_ip(checkpoint: str | None = None, device: str = "cpu", **options: Any) -> Bagel:
    return Bagel(StandInInferencer(), BagelSampling("ip", **options))
