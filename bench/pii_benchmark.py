"""PII benchmark: recall and precision per kind on the labeled corpus, for our scrubber and, in
the same run, for the seed's three regexes.

    python -m bench.pii_benchmark          (or: make bench-pii)

A labeled value counts as caught when the scrubbed text holds the kind's placeholder and none of
the value's words (runs of two or more letters or digits that the rest of the sentence does not
have): "my name is [NAME]ás Okafor" has not caught "Tomás Okafor". A detected span is a true positive when it overlaps a labeled value of the
same kind. "Negatives untouched" is the share of cooking sentences that come out unchanged.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

from bench.pii_corpus import load_corpus
from recipe_pipeline.pii import PII_KINDS, find_pii, scrub_messages

# The seed document's PrivacyManager.pii_patterns, verbatim.
SEED_PATTERNS = [
    (r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b", "[EMAIL]"),
    (r"\b\d{3}[-.]?\d{3}[-.]?\d{4}\b", "[PHONE]"),
    (r"\b\d{16}\b", "[CARD]"),
]


def seed_scrub(text: str) -> str:
    for pattern, replacement in SEED_PATTERNS:
        text = re.sub(pattern, replacement, text)
    return text


def seed_spans(text: str) -> list[tuple[str, int, int]]:
    return [(r.strip("[]"), m.start(), m.end()) for p, r in SEED_PATTERNS for m in re.finditer(p, text)]


def our_spans(text: str) -> list[tuple[str, int, int]]:
    return [(s.kind, s.start, s.end) for s in find_pii(text)]


@dataclass
class Score:
    caught: Counter
    labeled: Counter
    true_positive: Counter
    detected: Counter
    negatives_untouched: int
    negatives: int
    seconds: float

    def recall(self, kind: str) -> float | None:
        return self.caught[kind] / self.labeled[kind] if self.labeled[kind] else None

    def precision(self, kind: str) -> float | None:
        return self.true_positive[kind] / self.detected[kind] if self.detected[kind] else None


def caught_whole(text: str, value: str, kind: str, output: str) -> bool:
    """Whether ``output`` (``text`` scrubbed) replaced all of the labeled ``value`` with the
    kind's placeholder, leaving no part of it behind."""
    if f"[{kind}]" not in output:
        return False
    start = text.find(value)
    rest = text[:start] + " " + text[start + len(value) :] if start >= 0 else text
    own_words = set(re.findall(r"[^\W_]{2,}", value)) - set(re.findall(r"[^\W_]{2,}", rest))
    return not any(re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", output) for word in own_words) and value not in output


def score(corpus: list[dict], scrub_all, spans_of) -> Score:
    started = time.perf_counter()
    scrubbed = scrub_all([e["text"] for e in corpus])
    seconds = time.perf_counter() - started
    caught, labeled, true_positive, detected = Counter(), Counter(), Counter(), Counter()
    untouched = negatives = 0
    for example, output in zip(corpus, scrubbed):
        text = example["text"]
        if not example["pii"]:
            negatives += 1
            untouched += output == text
        labels = []
        for label in example["pii"]:
            labeled[label["kind"]] += 1
            if caught_whole(text, label["value"], label["kind"], output):
                caught[label["kind"]] += 1
            start = text.find(label["value"])
            labels.append((label["kind"], start, start + len(label["value"])))
        for kind, start, end in spans_of(text):
            detected[kind] += 1
            if any(kind == lk and start < le and end > ls for lk, ls, le in labels):
                true_positive[kind] += 1
    return Score(caught, labeled, true_positive, detected, untouched, negatives, seconds)


def run(corpus: list[dict] | None = None) -> dict[str, Score]:
    corpus = corpus if corpus is not None else load_corpus()
    return {
        "recipe-pipeline": score(corpus, lambda texts: scrub_messages(texts).texts.to_pylist(), our_spans),
        "seed regexes": score(corpus, lambda texts: [seed_scrub(t) for t in texts], seed_spans),
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def markdown(results: dict[str, Score]) -> str:
    names = list(results)
    header = "| kind | labeled | " + " | ".join(f"{n} recall | {n} precision" for n in names) + " |"
    rule = "|---|---:|" + "---:|---:|" * len(names)
    lines = [header, rule]
    first = results[names[0]]
    for kind in PII_KINDS:
        cells = [f"{_pct(results[n].recall(kind))} | {_pct(results[n].precision(kind))}" for n in names]
        lines.append(f"| {kind} | {first.labeled[kind]} | " + " | ".join(cells) + " |")
    cells = [f"{_pct(results[n].negatives_untouched / results[n].negatives)} | " for n in names]
    lines.append(f"| cooking sentences untouched | {first.negatives} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    corpus = load_corpus()
    results = run(corpus)
    print(f"PII benchmark: {len(corpus)} labeled sentences ({sum(1 for e in corpus if e['pii'])} with PII)\n")
    print(markdown(results))
    for name, result in results.items():
        print(f"\n{name}: {len(corpus) / result.seconds:,.0f} sentences/s")


if __name__ == "__main__":
    main()
