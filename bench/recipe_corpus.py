"""Labeled recipe-extraction corpus: chat messages and the canonical recipe each names (or none).

``python -m bench.recipe_corpus`` rewrites ``bench/recipe_corpus.jsonl`` (shipped, deterministic).
Each line: ``{"text": ..., "role": "assistant"|"user", "recipe": canonical name or null}``.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.jsonl import read_jsonl, write_jsonl

from recipe_pipeline.recipes import RECIPE_ALIASES, RECIPE_CATALOGUE

CORPUS_PATH = Path(__file__).with_name("recipe_corpus.jsonl")

ASSISTANT = [
    "Here's a recipe for {name}: you'll need about 45 minutes.",
    "How to make {name}: start by gathering everything.",
    "Great choice! {Name} is easier than it looks.",
    "Try this {name}. It takes 20 minutes of prep.",
    "For tonight I'd suggest {a} {name} — quick and cheap.",
    "Sure! Below is my favourite {name} recipe, serves 4-6.",
    "You can't go wrong with {the} {name}; bake at 180C for 25-30 minutes.",
    "Cooking {name} at home is simple: follow these 6 steps.",
]
USER = [
    "Can you give me a recipe for {name}?",
    "how do i make {name}",
    "I want to cook {name} tonight, any tips?",
    "what's a good {name} recipe for 4 people",
    "my kids love {the} {name}!! how do I make it healthier",
    "{Name} please 🙏",
]
OUTSIDE = [("grilled octopus", "Here's a recipe for grilled octopus."), ("smoky bean stew", "How to make smoky bean stew, step by step."),
           ("lemon drizzle", "Here's a recipe for a lemon drizzle!"), ("bao buns", "how to make bao buns?")]
NONE = [
    "Tell me what you have in the fridge and I'll suggest something.",
    "How much time do you have? I can suggest a few options.",
    "Preheat the oven to 200C and line a 9x13 pan.",
    "Yes, you can freeze it for up to 3 months.",
    "Thanks, it worked perfectly!",
    "What should I cook tonight?",
    "Use 1 1/2 cups of stock and simmer for 25-30 minutes.",
    "Olive oil works well, use about 3/4 of the amount.",
    "200C is about 400F; 180C is about 350F.",
    "I have chicken and rice, ideas?",
    "Stir-fry the onions for 2 minutes, then add the garlic.",  # a technique, not the dish
    "Serve it with a side of fries and a green salad.",
]


def _variant(rng: random.Random, canonical: str) -> str:
    aliases = [a for a, c in RECIPE_ALIASES.items() if c == canonical]
    form = rng.choice(aliases) if aliases and rng.random() < 0.4 else canonical
    style = rng.random()
    if style < 0.25:
        return form.title()
    if style < 0.35:
        return form.upper()
    if style < 0.45 and not form.endswith("s"):
        return form + "s"
    return form


def build_corpus(seed: int = 17) -> list[dict]:
    rng = random.Random(seed)
    corpus = []
    for canonical in RECIPE_CATALOGUE:
        for role, templates in (("assistant", ASSISTANT), ("user", USER)):
            name = _variant(rng, canonical)
            text = rng.choice(templates).format(name=name, Name=name[:1].upper() + name[1:], a=rng.choice(["a", "an", "some"]), the=rng.choice(["the", "your", "this"]))
            corpus.append({"text": text, "role": role, "recipe": canonical})
    for canonical, text in OUTSIDE:
        corpus.append({"text": text, "role": "assistant", "recipe": canonical})
    for text in NONE:
        corpus.append({"text": text, "role": rng.choice(["assistant", "user"]), "recipe": None})
    return corpus


def load_corpus(path: Path = CORPUS_PATH) -> list[dict]:
    return read_jsonl(path)


def main() -> None:
    write_jsonl(CORPUS_PATH, build_corpus())


if __name__ == "__main__":
    main()
