"""Recipe extraction on the shipped labeled corpus: the accuracy target (quality, not timing)."""

from __future__ import annotations

from bench.recipe_benchmark import markdown, run, seed_extract
from bench.recipe_corpus import build_corpus, load_corpus
from recipe_pipeline.recipes import RECIPE_CATALOGUE


def test_the_shipped_corpus_is_the_one_the_builder_makes():
    corpus = load_corpus()
    assert corpus == build_corpus()
    assert {e["recipe"] for e in corpus} >= set(RECIPE_CATALOGUE)


def test_exact_canonical_accuracy_meets_the_target_and_beats_the_seed():
    corpus = load_corpus()
    results = run(corpus)
    assert results["recipe-pipeline"]["all"] >= 0.95
    assert results["recipe-pipeline"]["assistant"] >= 0.95
    assert results["seed patterns"]["all"] < results["recipe-pipeline"]["all"]
    assert "| assistant |" in markdown(results, corpus)


def test_the_seed_patterns_are_the_seeds():
    assert seed_extract("Here's a recipe for Spaghetti Carbonara.") == "spaghetti carbonara"
    assert seed_extract("Cooking the lasagne now!") == "the lasagne now"
