"""Recipe extraction accuracy (exact canonical name, or correctly none) on the labeled corpus,
for our extractor and, in the same run, for the seed's three patterns.

    python -m bench.recipe_benchmark          (or: make bench-recipes)
"""

from __future__ import annotations

import re

from bench.recipe_corpus import load_corpus
from recipe_pipeline.recipes import extract_recipe

# The seed's ConversationTracker._extract_recipe_name, verbatim.
SEED_PATTERNS = [r"recipe for (.+?)(?:\.|,|!|\?|$)", r"how to make (.+?)(?:\.|,|!|\?|$)", r"cooking (.+?)(?:\.|,|!|\?|$)"]


def seed_extract(message: str) -> str | None:
    for pattern in SEED_PATTERNS:
        match = re.search(pattern, message.lower())
        if match:
            return match.group(1).strip()
    return None


def accuracy(corpus: list[dict], extract) -> dict[str, float]:
    groups: dict[str, list[bool]] = {"all": [], "assistant": [], "user": [], "no recipe": []}
    for example in corpus:
        correct = extract(example["text"]) == example["recipe"]
        groups["all"].append(correct)
        groups["no recipe" if example["recipe"] is None else example["role"]].append(correct)
    return {name: sum(v) / len(v) for name, v in groups.items() if v}


def run(corpus: list[dict] | None = None) -> dict[str, dict[str, float]]:
    corpus = corpus if corpus is not None else load_corpus()
    return {"recipe-pipeline": accuracy(corpus, extract_recipe), "seed patterns": accuracy(corpus, seed_extract)}


def markdown(results: dict[str, dict[str, float]], corpus: list[dict]) -> str:
    counts = {"all": len(corpus), "assistant": sum(e["role"] == "assistant" and e["recipe"] is not None for e in corpus),
              "user": sum(e["role"] == "user" and e["recipe"] is not None for e in corpus), "no recipe": sum(e["recipe"] is None for e in corpus)}
    names = list(results)
    lines = ["| messages | n | " + " | ".join(f"{n} exact" for n in names) + " |", "|---|---:|" + "---:|" * len(names)]
    for group, n in counts.items():
        lines.append(f"| {group} | {n} | " + " | ".join(f"{100 * results[name][group]:.1f}%" for name in names) + " |")
    return "\n".join(lines)


def main() -> None:
    corpus = load_corpus()
    print(f"recipe extraction: {len(corpus)} labeled messages\n")
    print(markdown(run(corpus), corpus))


if __name__ == "__main__":
    main()
