"""The PII benchmark runs on the shipped corpus and meets the privacy targets (quality, not timing)."""

from __future__ import annotations

from bench.pii_benchmark import caught_whole, markdown, run, score
from bench.pii_corpus import build_corpus, load_corpus
from recipe_pipeline.pii import PII_KINDS


def test_the_shipped_corpus_is_the_one_the_builder_makes():
    corpus = load_corpus()
    assert corpus == build_corpus()
    assert sum(1 for e in corpus if e["pii"]) >= 300 and sum(1 for e in corpus if not e["pii"]) >= 300
    assert {label["kind"] for e in corpus for label in e["pii"]} == set(PII_KINDS)


def test_recall_and_untouched_negatives_meet_the_targets():
    results = run()
    ours, seed = results["recipe-pipeline"], results["seed regexes"]
    for kind in PII_KINDS:
        assert ours.recall(kind) >= 0.99, kind
        assert ours.precision(kind) >= 0.95, kind
    assert ours.negatives_untouched / ours.negatives >= 0.99
    assert seed.recall("PHONE") < ours.recall("PHONE")  # the comparison the table exists for
    table = markdown(results)
    assert "| IBAN |" in table and "seed regexes recall" in table


def test_a_value_half_replaced_is_not_caught():
    text = "my name is Tomás Okafor and I love baking"
    assert not caught_whole(text, "Tomás Okafor", "NAME", "my name is [NAME]ás Okafor and I love baking")
    assert not caught_whole(text, "Tomás Okafor", "NAME", "my name is [NAME] Okafor and I love baking")
    assert caught_whole(text, "Tomás Okafor", "NAME", "my name is [NAME] and I love baking")
    assert not caught_whole(text, "Tomás Okafor", "NAME", text)  # no placeholder
    # A word the rest of the sentence has too does not count against the scrub.
    assert caught_whole("call 555-0100 or 555-0199", "555-0199", "PHONE", "call 555-0100 or [PHONE]")
    example = {"text": text, "pii": [{"kind": "NAME", "value": "Tomás Okafor"}]}
    assert score([example], lambda texts: ["my name is [NAME]ás Okafor and I love baking"], lambda _: []).caught["NAME"] == 0


def test_the_corpus_has_text_pasted_in_unicode_forms():
    texts = [e["text"] for e in load_corpus() if e["pii"]]
    assert any("\u00a0" in t for t in texts) and any("\u3000" in t for t in texts) and any("５" in t or "１" in t for t in texts)
    assert any("José" in t for t in texts) and any("ü" in t and "@" in t for t in texts)
