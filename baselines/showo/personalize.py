"""The text a Show-o-family model reads for a concept, as the public Sync-R1 harness builds it.

Every input starts with the text personalization "name: <c>\\ninfo: <profile>";
a model with concept tokens also gets "<c> is <token_0>...<token_15>." before
Rec. / VQA / QA questions and reads the concept token in generation prompts as
its latent tokens plus the identifier. The adapters and the supervised
training of the tiny models both read it from here, so a model is trained on
the very wording it is evaluated with.
"""

from __future__ import annotations

from unifybench_pp.prompts import SYSTEM_PROMPT_TASKS, tp_prefix, with_tp_prefix
from unifybench_pp.schema import Concept

from .concepts import ConceptTokens


def generation_condition(concept: Concept, prompt: str, tokens: ConceptTokens | None) -> str:
    """The generation prompt: text personalization, then the prompt (its token spelled out when `tokens`)."""
    if tokens is not None:
        prompt = tokens.in_prompt(prompt, concept.token)
    return with_tp_prefix(concept, prompt)


def understanding_system(concept: Concept, task: str, tokens: ConceptTokens | None) -> str:
    """What precedes the question inside "USER: ... ASSISTANT:"."""
    prefix = tp_prefix(concept.id, concept.info) + "\n"
    if tokens is None or task not in SYSTEM_PROMPT_TASKS:
        return prefix
    return prefix + tokens.system_prompt() + "\n"
