"""Every prompt text UnifyBench++ defines, worded exactly as the public Sync-R1 harness words it.

The harness (`chawuciren11/Sync-R1`, `evaluation/tasks.py` and `common.py`)
is the executable definition of the benchmark: the rewrite instructions of
Rea. / Dense Rea., the 25 DreamBooth templates of Pure Gen., how a dense
prompt splits into judged clauses, and what a text-prompted baseline reads
instead of the concept token. They live here once; the builder writes them
into the task files, the adapters and the trainer read them from here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import Concept

IMAGE_TAG = "<image>\n"

_REA_TAIL = (
    "If the prompt relates to a specific item from the aforementioned information list,\n"
    "add only the relevant detail from that item into the rewritten prompt.\n"
    "If the prompt does not relate to any item in the list,\n"
    "return the original prompt unchanged.\n"
    "Output only the rewritten prompt."
)
_DENSE_REA_TAIL = (
    "Use the useful details from one or more relevant items in the aforementioned information list "
    "to make the rewritten prompt more detailed.\n"
    "If none of the information is helpful for this prompt,\n"
    "return the original prompt unchanged.\n"
    "Output only the rewritten prompt."
)

_SHARED_TEMPLATES = (
    "a {} in the jungle", "a {} in the snow", "a {} on the beach", "a {} on a cobblestone street",
    "a {} on top of pink fabric", "a {} on top of a wooden floor", "a {} with a city in the background",
    "a {} with a mountain in the background", "a {} with a blue house in the background",
    "a {} on top of a purple rug in a forest",
)
_STYLE_TEMPLATES = ("a red {}", "a purple {}", "a shiny {}", "a wet {}", "a cube shaped {}")

#: DreamBooth's 25 evaluation prompts per `generation_type`, `{}` standing for the subject.
PURE_GEN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "object": _SHARED_TEMPLATES + (
        "a {} with a wheat field in the background", "a {} with a tree and autumn leaves in the background",
        "a {} with the Eiffel Tower in the background", "a {} floating on top of water",
        "a {} floating in an ocean of milk", "a {} on top of green grass with sunflowers around it",
        "a {} on top of a mirror", "a {} on top of the sidewalk in a crowded street",
        "a {} on top of a dirt road", "a {} on top of a white rug",
    ) + _STYLE_TEMPLATES,
    "live_subject": _SHARED_TEMPLATES + (
        "a {} wearing a red hat", "a {} wearing a santa hat", "a {} wearing a rainbow scarf",
        "a {} wearing a black top hat and a monocle", "a {} in a chef outfit", "a {} in a firefighter outfit",
        "a {} in a police outfit", "a {} wearing pink glasses", "a {} wearing a yellow shirt",
        "a {} in a purple wizard outfit",
    ) + _STYLE_TEMPLATES,
}


def question_text(raw: str) -> str:
    """A `test_data` question as the model gets it: the `<image>\\n` marker removed, stripped."""
    return raw.replace(IMAGE_TAG, "").strip()


def clauses(prompt: str) -> list[str]:
    """The clauses a judge checks one by one: the prompt split on commas, stripped, empties dropped."""
    return [clause.strip() for clause in prompt.split(",") if clause.strip()]


def rea_instruction(token: str, extra_info: list[str], implicit_prompt: str) -> str:
    """Rea.'s rewrite instruction; the entries are listed as Python writes a list, as the harness does."""
    return (f"Below is some information about {token} : {extra_info!s}\n"
            f"Please rewrite the following prompt into a more detailed prompt: {implicit_prompt.strip()}\n"
            + _REA_TAIL)


def dense_rea_instruction(token: str, extra_info: list[str], implicit_prompt: str) -> str:
    """Dense Rea.'s rewrite instruction; blank entries are dropped and the rest stripped, as the harness does."""
    entries = [entry.strip() for entry in extra_info if entry.strip()]
    return (f"Below is some information about {token} : {entries!s}\n"
            f"Please rewrite the following prompt into a more detailed prompt: {implicit_prompt.strip()}\n"
            + _DENSE_REA_TAIL)


def pure_gen_prompts(token: str, class_noun: str, generation_type: str) -> list[tuple[str, str]]:
    """(generation prompt with the token, CLIP-T text with the class noun) for each of the 25 templates."""
    templates = PURE_GEN_TEMPLATES[generation_type]
    return [(template.format(token), template.format(class_noun)) for template in templates]


def name_substituted(prompt: str, concept_id: str, token: str) -> str:
    """A Pure Gen. prompt as the harness's Show-o adapter reads it: the template is written with the concept's bare
    name ("a bo wearing a rainbow scarf") and every occurrence of the name, inside words too, then becomes the
    token ("a <bo> wearing a rain<bo>w scarf"; of the harness's 20 concepts only `bo` meets a template word)."""
    return prompt.replace(token, concept_id).replace(concept_id, token)


def with_class_noun(text: str, token: str, class_noun: str) -> str:
    """The token replaced by its class noun with an article where none stands before it.

    "a photo of <bo>" -> "a photo of a dog", "my <bo>" -> "my dog": the readable
    text a scorer compares an image with when a prompt names the concept.
    """
    def replace(match: re.Match[str]) -> str:
        before = text[: match.start()].rstrip().lower()
        if re.search(r"\b(a|an|the|my|your|his|her|their|our)$", before):
            return class_noun
        return f"{'an' if class_noun[:1].lower() in 'aeiou' else 'a'} {class_noun}"

    return re.sub(re.escape(token), replace, text)


#: Tasks whose Show-o-family input carries the concept's system prompt ("<c> is <tokens>."): the
#: harness prepends it for the `test_data` questions only, not for the rewrite tasks; Yo'LLaVA's and
#: MC-LLaVA's evaluation code prepend theirs to every question, multiple choice included.
SYSTEM_PROMPT_TASKS: tuple[str, ...] = ("rec", "vqa", "qa", "vqa_choice", "qa_choice")


def tp_prefix(concept_id: str, info: str) -> str:
    """The harness's text personalization, put before every input (tokens or not): "name: bo\\ninfo: ..."."""
    return f"name: {concept_id}\ninfo: {info}"


def with_tp_prefix(concept: Concept, text: str) -> str:
    """`_apply_tp_prefix`: the concept's "name: / info:" lines, then the text."""
    return f"{tp_prefix(concept.id, concept.info)}\n{text}"
