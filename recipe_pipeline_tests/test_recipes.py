"""Recipe names: one canonical name per dish, each with a category."""

from __future__ import annotations

import re
from pathlib import Path
from unittest.mock import patch

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipe_pipeline.recipes import (
    MENTION_PREFIX,
    CATEGORIES,
    RECIPE_ALIASES,
    RECIPE_CATALOGUE,
    canonical_recipe_name,
    extract_recipe,
    extract_recipe_column,
    extract_recipes,
    recipe_category,
    recipe_category_column,
)


# -- canonical names -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        # case and spacing
        ("LASAGNA", "lasagna"),
        ("  Spaghetti   Carbonara ", "spaghetti carbonara"),
        # plural and singular
        ("lasagnas", "lasagna"),
        ("Pancake", "pancakes"),
        ("brownie", "brownies"),
        ("dals", "dal"),
        ("omelettes", "omelette"),
        # articles and stock adjectives, alone or stacked
        ("the lasagna", "lasagna"),
        ("a pancake", "pancakes"),
        ("The Brownie", "brownies"),
        ("an omelette", "omelette"),
        ("some Waffles", "waffles"),
        ("an easy apple pie", "apple pie"),
        ("the classic Caesar Salad", "caesar salad"),
        # listed aliases and misspellings
        ("Lasagne", "lasagna"),
        ("spag bol", "spaghetti bolognese"),
        ("Caeser Salad", "caesar salad"),
        ("spagetti carbonara", "spaghetti carbonara"),
        ("chocolate mouse", "chocolate mousse"),
        ("Mac 'n' Cheese", "mac and cheese"),
        ("mac & cheese", "mac and cheese"),
        ("Fish & Chips", "fish and chips"),
        ("Shepherd’s Pie", "shepherd's pie"),
        ("shepherds pie", "shepherd's pie"),
        ("crème brûlée", "creme brulee"),
        ("Stir-Fry", "vegetable stir fry"),
        ("hamburgers", "burgers"),
        ("a taco", "beef tacos"),
        ("houmous", "hummus"),
    ],
)
def test_canonical_names_collapse_variants(written, canonical):
    assert canonical_recipe_name(written) == canonical
    assert recipe_category(canonical_recipe_name(written)) == RECIPE_CATALOGUE[canonical]


def test_canonical_names_of_unknown_dishes_are_normalized():
    assert canonical_recipe_name("The Grilled Octopus!") == "grilled octopus"
    assert canonical_recipe_name("Beef  Rendang") == "beef rendang"
    assert recipe_category(canonical_recipe_name("Beef Rendang")) == "other"


@pytest.mark.parametrize("empty", [None, "", "   ", "the", "A", "the the", "an easy", "!?"])
def test_no_name_for_nothing_or_an_article_alone(empty):
    assert canonical_recipe_name(empty) is None


# -- the catalogue ---------------------------------------------------------------------------
def test_categories_are_the_catalogue_s_plus_other():
    assert set(CATEGORIES) == set(RECIPE_CATALOGUE.values()) | {"other"}
    assert list(CATEGORIES) == sorted(CATEGORIES)


@pytest.mark.parametrize("name", sorted(RECIPE_CATALOGUE))
def test_every_catalogue_name_has_a_category_and_is_found(name):
    category = RECIPE_CATALOGUE[name]
    assert category in CATEGORIES and category != "other"
    assert recipe_category(name) == category
    assert canonical_recipe_name(name) == name
    assert canonical_recipe_name(name.upper()) == name
    assert canonical_recipe_name(f"the {name.title()}") == name
    assert extract_recipe(f"Here's how: {name}.") == name
    assert extract_recipe(f"Great choice! {name.title()} is easier than it looks.") == name
    assert extract_recipe(f"Here's a recipe for {name}: 45 minutes.") == name


@pytest.mark.parametrize(("alias", "canonical"), sorted(RECIPE_ALIASES.items()))
def test_every_alias_resolves_to_a_catalogue_name(alias, canonical):
    assert canonical in RECIPE_CATALOGUE
    assert canonical_recipe_name(alias) == canonical
    assert extract_recipe(f"Let's cook {alias} tonight") == canonical


def test_category_lookup():
    assert recipe_category("ramen") == "soup"
    assert recipe_category("tiramisu") == "dessert"
    assert recipe_category("grilled octopus") == "other"
    assert recipe_category(None) is None


# -- extraction from messages ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Here's a recipe for Spaghetti Carbonara.", "spaghetti carbonara"),
        ("How to make the lasagne!", "lasagna"),
        ("Try these Pancakes with syrup", "pancakes"),
        ("Great choice! Caeser salad is easy.", "caesar salad"),
        ("Mac n cheese, the ultimate comfort food", "mac and cheese"),
        ("FISH & CHIPS on Friday", "fish and chips"),
        ("Preheat the oven for the\nbanana bread", "banana bread"),
        ("Pho. It takes 3 hours.", "pho"),
    ],
)
def test_mentions_collapse_to_canonical_names(text, name):
    assert extract_recipe(text) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("A classic chicken noodle soup warms you up", "chicken noodle soup"),
        ("Chicken soup is what you need", "chicken noodle soup"),  # the alias, not a "chicken" dish
        ("French onion soup takes time", "french onion soup"),
        ("Onion soup takes time", "french onion soup"),
        ("Fish tacos with lime", "fish tacos"),  # not "beef tacos" from "tacos"
        ("Tacos with lime", "beef tacos"),
        ("Chicken tikka masala tonight", "chicken tikka masala"),
        ("Egg fried rice in 10 minutes", "fried rice"),
        ("A veggie burger for lunch", "veggie burger"),
        ("Sourdough bread needs a starter", "sourdough bread"),
        ("Thai green curry with jasmine rice", "thai green curry"),
        ("Carrot cake for dessert", "carrot cake"),
    ],
)
def test_the_longest_name_wins(text, name):
    assert extract_recipe(text) == name


@pytest.mark.parametrize(
    "text",
    [
        "Tell me what you have in the fridge.",
        "How much time do you have? I can suggest a few options.",
        "Yes, a 9x13 pan works; reduce the baking time by about 5 minutes.",
        "200C is about 400F; 180C is about 350F.",
        "The dalmatian ate my phonebook",  # "dal" and "pho" are dishes only as whole words
        "I like passionfruit and escalopes",
        "Here's a recipe for [EMAIL] stuff",  # placeholders are not dishes
        "Here's a recipe for the.",
        "Here's a recipe for an incredibly long list of many different things",  # no short phrase
        "",
        None,
    ],
)
def test_texts_without_a_recipe_give_none(text):
    assert extract_recipe(text) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Here's a recipe for grilled octopus.", "grilled octopus"),
        ("Here's a recipe for a smoky bean stew!", "smoky bean stew"),
        ("How to make Beef Rendang: brown the beef first.", "beef rendang"),
        ("how to make the perfect POUTINE?", "perfect poutine"),
        ("Sure, here is a recipe for an easy quiche lorraine", "quiche lorraine"),
    ],
)
def test_unknown_dishes_after_the_seed_s_phrases_count_as_other(text, name):
    assert extract_recipe(text) == name
    assert name not in RECIPE_CATALOGUE
    assert recipe_category(extract_recipe(text)) == "other"


def test_a_catalogue_mention_beats_the_seed_s_phrase():
    assert extract_recipe("Here's a recipe for my nan's lasagne.") == "lasagna"


def test_the_first_mention_wins():
    assert extract_recipe("Pancakes first, then chicken noodle soup") == "pancakes"
    assert extract_recipe("Chicken noodle soup first, then pancakes") == "chicken noodle soup"


def test_extract_recipes_over_a_list():
    texts = ["Here's a recipe for ramen.", None, "no dish", "", "How to make the lasagne", "Here's a recipe for ramen."]
    assert extract_recipes(texts) == ["ramen", None, None, None, "lasagna", "ramen"]
    assert extract_recipes([]) == []
    assert extract_recipes(iter(["Tacos!"])) == ["beef tacos"]


# -- the vectorized column form is extract_recipe, exactly --------------------------------------
_RECIPE_PIECES = st.sampled_from(
    [
        "lasagna", "Lasagnes", "mac-and-cheese", "Mac  and\ncheese", "mac and\x0bcheese", "chicken\x1cnoodle soup", "chicken noodle soup", "chicken soup", "pho", "phone",
        "crème brûlée", "creme brulee", "nan's", "recipe for ", "How to make ", "Here's a recipe for ", "the ", "an easy ",
        "ramen", "Ramen's", "tacos", "[PHONE]", "beef rendang", "-", " ", "\t", "\x0b", "\x1c", ".", ",", "!", "'", "’", "_",
        "x", "İ", "K", "ſ", "\n", "(", ")", "1", "'(", " - ", "--", "? ", "Chicken - Noodle\tSoup", "SHRIMP  SCAMPI",
        "\x01", "\x02", "Here's a long enough opening line to push the dish past the cut: ", "lasagna bolognese", "Tiramisu Cake",
        "Bolognese", "Chicken Tikka", "masala", " " * 40, "-" * 30, "\n" * 20,
    ]
)
_RECIPE_TEXT = st.lists(_RECIPE_PIECES, max_size=12).map("".join) | st.text(max_size=40)


def _one_by_one(texts):
    return [extract_recipe(text) if text else None for text in texts]


# The prefix a mention is first looked for in: as shipped, and cut short so that marks end near,
# at and past the cut, longer forms are cut through, and no mark can settle a text (8).
_PREFIXES = [MENTION_PREFIX, 60, 45, 8]


@pytest.mark.parametrize("prefix", _PREFIXES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.none() | _RECIPE_TEXT, max_size=8))
def test_the_column_form_is_extract_recipe(prefix, texts):
    with patch("recipe_pipeline.recipes.MENTION_PREFIX", prefix):
        assert extract_recipe_column(pa.array(texts, pa.string())).to_pylist() == _one_by_one(texts)


@pytest.mark.parametrize("prefix", _PREFIXES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.none() | _RECIPE_TEXT, max_size=8))
def test_a_mention_found_in_the_prefix_is_the_text_s_first(prefix, texts):
    """As written, before canonical names hide a shorter form ("lasagna") found for a longer one."""
    from recipe_pipeline.recipes import _MENTION_RE2, _first_mentions

    lowered = pc.ascii_lower(pa.array([text if text is None or text.isascii() else None for text in texts], pa.string()))
    with patch("recipe_pipeline.recipes.MENTION_PREFIX", prefix):
        assert _first_mentions(lowered).to_pylist() == pc.struct_field(pc.extract_regex(lowered, _MENTION_RE2), "form").to_pylist()


def test_a_longer_form_cut_through_by_the_prefix_is_found_whole():
    from recipe_pipeline.recipes import _MENTION_RE2, _first_mentions

    # The cut falls before, inside and after "lasagna bolognese" (and after "lasagna", a form too).
    lowered = pc.ascii_lower(pa.array([f"{'x' * n} Lasagna Bolognese, {'y' * 40}" for n in range(50)], pa.string()))
    with patch("recipe_pipeline.recipes.MENTION_PREFIX", 45):
        found = _first_mentions(lowered).to_pylist()
    assert found == pc.struct_field(pc.extract_regex(lowered, _MENTION_RE2), "form").to_pylist() == ["lasagna bolognese"] * 50
    # Its words parted by a long run of separators (an underlined heading), reaching past the cut.
    lowered = pc.ascii_lower(pa.array([f"{'x' * n} Lasagna{sep}Bolognese tonight" for n in range(0, 40, 3) for sep in (" " * 100, "\n" + "-" * 90 + "\n")]))
    found = _first_mentions(lowered).to_pylist()
    assert found == pc.struct_field(pc.extract_regex(lowered, _MENTION_RE2), "form").to_pylist()
    assert [form.split()[0] + " " + form.split()[-1] for form in found] == ["lasagna bolognese"] * len(found)


def test_every_form_starts_and_ends_with_a_word_character():
    """What surrounds a marked mention is trimmed away as non-word characters."""
    from recipe_pipeline.recipes import _FORMS

    assert all(re.fullmatch(r"\w(.*\w)?", form) for form in _FORMS)


@pytest.mark.parametrize("prefix", _PREFIXES)
@pytest.mark.parametrize("split_from", [1_000_000, 4], ids=["whole", "a-slice-per-core"])
def test_the_column_form_agrees_on_the_recipe_corpus_and_every_surface_form(monkeypatch, split_from, prefix):
    from bench.jsonl import read_jsonl

    monkeypatch.setattr("recipe_pipeline.columns.SPLIT_FROM", split_from)
    monkeypatch.setattr("recipe_pipeline.recipes.MENTION_PREFIX", prefix)
    from recipe_pipeline.recipes import _FORMS

    texts = [entry["text"] for entry in read_jsonl(Path(__file__).resolve().parent.parent / "bench" / "recipe_corpus.jsonl")]
    texts += [f"Try the {form}, it's great" for form in _FORMS] + [f"{form.upper()}!" for form in _FORMS]
    # Quoted at the very start and end: the quotes are stripped, so the form is at the text's edges.
    texts += [f"'{form.replace(' ', ' - ')}'" for form in _FORMS] + [f"\"'{form}'s\"" for form in _FORMS]
    chunked = pa.chunked_array([texts[:10], texts[10:]], pa.string())
    assert extract_recipe_column(chunked).to_pylist() == _one_by_one(texts)


def test_recipe_category_column():
    names = pa.array(["ramen", None, "grilled octopus", "ramen"], pa.string())
    assert recipe_category_column(names).to_pylist() == ["soup", None, "other", "soup"]
