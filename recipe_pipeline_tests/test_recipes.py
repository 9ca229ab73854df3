"""Recipe names: one canonical name per dish, each with a category."""

from __future__ import annotations

import pytest

from recipe_pipeline.recipes import CATEGORIES, RECIPE_ALIASES, RECIPE_CATALOGUE, canonical_recipe_name, extract_recipe, extract_recipes, recipe_category


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Here's a recipe for Spaghetti Carbonara.", "spaghetti carbonara"),
        ("How to make the lasagne!", "lasagna"),
        ("Try these Pancakes with syrup", "pancakes"),
        ("Great choice! Caeser salad is easy.", "caesar salad"),
        ("A classic chicken noodle soup warms you up", "chicken noodle soup"),
        ("Mac n cheese, the ultimate comfort food", "mac and cheese"),
        ("FISH & CHIPS on Friday", "fish and chips"),
        ("Here's a recipe for grilled octopus.", "grilled octopus"),
        ("Here's a recipe for a smoky bean stew!", "smoky bean stew"),
    ],
)
def test_mentions_collapse_to_canonical_names(text, name):
    assert extract_recipe(text) == name


def test_no_recipe_no_name():
    assert extract_recipe("Tell me what you have in the fridge.") is None
    assert extract_recipe("") is None and extract_recipe(None) is None
    assert extract_recipe("Here's a recipe for [EMAIL] stuff") is None  # placeholders are not dishes


def test_every_catalogue_name_and_alias_resolves_to_a_category():
    for name, category in RECIPE_CATALOGUE.items():
        assert category in CATEGORIES and category != "other"
        assert extract_recipe(f"Here's how: {name}.") == name
        assert canonical_recipe_name(name.upper()) == name
    for alias, canonical in RECIPE_ALIASES.items():
        assert canonical in RECIPE_CATALOGUE
        assert extract_recipe(f"Let's cook {alias} tonight") == canonical, alias


def test_categories():
    assert recipe_category("ramen") == "soup"
    assert recipe_category("grilled octopus") == "other"
    assert recipe_category(None) is None


def test_canonical_names_drop_articles_and_plurals():
    assert canonical_recipe_name("The Brownie") == "brownies"
    assert canonical_recipe_name("some Waffles") == "waffles"
    assert canonical_recipe_name("  ") is None


def test_extract_recipes_over_a_column():
    assert extract_recipes(["Here's a recipe for ramen.", None, "no dish"]) == ["ramen", None, None]
