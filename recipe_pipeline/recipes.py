"""Recipe names and categories, derived in the pipeline from message text.

The seed guessed names with three patterns (``recipe for …``, ``how to make …``, ``cooking …``)
and kept whatever words followed, so "Lasagne", "the lasagna" and "lasagnas" were three recipes.
Here every mention is matched against a shipped catalogue of canonical names (with aliases,
plurals, articles and common misspellings), and each canonical name has one category. When no
catalogue name is found, the seed's patterns still yield a normalized name in category ``other``,
so new dishes are counted rather than lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from recipe_pipeline.columns import by_distinct, on_every_core, one_array

# canonical name -> category. Categories: pasta, soup, dessert, baking, curry, salad, breakfast,
# main, seafood, vegetarian, rice, snack, drink.
RECIPE_CATALOGUE: dict[str, str] = {
    # pasta
    "spaghetti carbonara": "pasta",
    "lasagna": "pasta",
    "spaghetti bolognese": "pasta",
    "fettuccine alfredo": "pasta",
    "penne arrabbiata": "pasta",
    "mac and cheese": "pasta",
    "pesto pasta": "pasta",
    "cacio e pepe": "pasta",
    "pasta primavera": "pasta",
    "shrimp scampi": "pasta",
    # soup
    "tomato soup": "soup",
    "chicken noodle soup": "soup",
    "french onion soup": "soup",
    "minestrone": "soup",
    "butternut squash soup": "soup",
    "lentil soup": "soup",
    "clam chowder": "soup",
    "ramen": "soup",
    "pho": "soup",
    "gazpacho": "soup",
    # dessert
    "tiramisu": "dessert",
    "chocolate mousse": "dessert",
    "cheesecake": "dessert",
    "apple pie": "dessert",
    "creme brulee": "dessert",
    "panna cotta": "dessert",
    "brownies": "dessert",
    "rice pudding": "dessert",
    "pavlova": "dessert",
    # baking
    "banana bread": "baking",
    "sourdough bread": "baking",
    "chocolate chip cookies": "baking",
    "focaccia": "baking",
    "cinnamon rolls": "baking",
    "blueberry muffins": "baking",
    "carrot cake": "baking",
    "scones": "baking",
    "pizza dough": "baking",
    # curry
    "chicken tikka masala": "curry",
    "butter chicken": "curry",
    "thai green curry": "curry",
    "chana masala": "curry",
    "lamb rogan josh": "curry",
    "massaman curry": "curry",
    "dal": "curry",
    # salad
    "caesar salad": "salad",
    "greek salad": "salad",
    "caprese salad": "salad",
    "cobb salad": "salad",
    "quinoa salad": "salad",
    "nicoise salad": "salad",
    # breakfast
    "pancakes": "breakfast",
    "french toast": "breakfast",
    "eggs benedict": "breakfast",
    "shakshuka": "breakfast",
    "overnight oats": "breakfast",
    "waffles": "breakfast",
    "omelette": "breakfast",
    "avocado toast": "breakfast",
    # main
    "roast chicken": "main",
    "beef stew": "main",
    "chili con carne": "main",
    "beef tacos": "main",
    "shepherd's pie": "main",
    "pulled pork": "main",
    "beef wellington": "main",
    "chicken parmesan": "main",
    "meatloaf": "main",
    "burgers": "main",
    # seafood
    "fish and chips": "seafood",
    "salmon teriyaki": "seafood",
    "fish tacos": "seafood",
    "garlic butter salmon": "seafood",
    "paella": "seafood",
    "moules marinieres": "seafood",
    # vegetarian
    "falafel": "vegetarian",
    "vegetable stir fry": "vegetarian",
    "stuffed peppers": "vegetarian",
    "ratatouille": "vegetarian",
    "eggplant parmesan": "vegetarian",
    "veggie burger": "vegetarian",
    # rice
    "risotto": "rice",
    "fried rice": "rice",
    "chicken biryani": "rice",
    "jambalaya": "rice",
    "sushi rolls": "rice",
    # snack
    "guacamole": "snack",
    "hummus": "snack",
    "nachos": "snack",
    "bruschetta": "snack",
    "spring rolls": "snack",
    # drink
    "mango lassi": "drink",
    "hot chocolate": "drink",
    "berry smoothie": "drink",
    "chai latte": "drink",
}

CATEGORIES = tuple(sorted(set(RECIPE_CATALOGUE.values()) | {"other"}))

# Other ways people and models write the same dish -> canonical name.
RECIPE_ALIASES: dict[str, str] = {
    "carbonara": "spaghetti carbonara",
    "spagetti carbonara": "spaghetti carbonara",
    "pasta carbonara": "spaghetti carbonara",
    "lasagne": "lasagna",
    "lasagna bolognese": "lasagna",
    "spag bol": "spaghetti bolognese",
    "bolognese": "spaghetti bolognese",
    "spagetti bolognese": "spaghetti bolognese",
    "fettucine alfredo": "fettuccine alfredo",
    "fettuccini alfredo": "fettuccine alfredo",
    "macaroni and cheese": "mac and cheese",
    "mac n cheese": "mac and cheese",
    "mac 'n' cheese": "mac and cheese",
    "mac & cheese": "mac and cheese",
    "penne all'arrabbiata": "penne arrabbiata",
    "chicken soup": "chicken noodle soup",
    "onion soup": "french onion soup",
    "minestrone soup": "minestrone",
    "pumpkin soup": "butternut squash soup",
    "squash soup": "butternut squash soup",
    "new england clam chowder": "clam chowder",
    "tiramisù": "tiramisu",
    "tiramisu cake": "tiramisu",
    "chocolate mouse": "chocolate mousse",
    "cheese cake": "cheesecake",
    "crème brûlée": "creme brulee",
    "creme brûlée": "creme brulee",
    "brownie": "brownies",
    "fudge brownies": "brownies",
    "banana loaf": "banana bread",
    "sourdough": "sourdough bread",
    "sourdough loaf": "sourdough bread",
    "choc chip cookies": "chocolate chip cookies",
    "chocolate chip cookie": "chocolate chip cookies",
    "cinnamon buns": "cinnamon rolls",
    "cinnamon roll": "cinnamon rolls",
    "blueberry muffin": "blueberry muffins",
    "pizza base": "pizza dough",
    "tikka masala": "chicken tikka masala",
    "chicken tikka": "chicken tikka masala",
    "murgh makhani": "butter chicken",
    "green curry": "thai green curry",
    "thai curry": "thai green curry",
    "chickpea curry": "chana masala",
    "rogan josh": "lamb rogan josh",
    "dhal": "dal",
    "daal": "dal",
    "lentil dal": "dal",
    "caeser salad": "caesar salad",
    "cesar salad": "caesar salad",
    "horiatiki": "greek salad",
    "salade nicoise": "nicoise salad",
    "salad nicoise": "nicoise salad",
    "niçoise salad": "nicoise salad",
    "pancake": "pancakes",
    "fluffy pancakes": "pancakes",
    "waffle": "waffles",
    "omelet": "omelette",
    "egg benedict": "eggs benedict",
    "shakshouka": "shakshuka",
    "overnight oatmeal": "overnight oats",
    "roasted chicken": "roast chicken",
    "roast chook": "roast chicken",
    "chilli con carne": "chili con carne",
    "taco": "beef tacos",
    "tacos": "beef tacos",
    "beef taco": "beef tacos",
    "shepherds pie": "shepherd's pie",
    "cottage pie": "shepherd's pie",
    "chicken parm": "chicken parmesan",
    "chicken parmigiana": "chicken parmesan",
    "burger": "burgers",
    "hamburger": "burgers",
    "hamburgers": "burgers",
    "fish & chips": "fish and chips",
    "fish n chips": "fish and chips",
    "teriyaki salmon": "salmon teriyaki",
    "fish taco": "fish tacos",
    "moules frites": "moules marinieres",
    "mussels": "moules marinieres",
    "stir fry": "vegetable stir fry",
    "stir-fry": "vegetable stir fry",
    "vegetable stir-fry": "vegetable stir fry",
    "veggie stir fry": "vegetable stir fry",
    "aubergine parmesan": "eggplant parmesan",
    "eggplant parm": "eggplant parmesan",
    "melanzane alla parmigiana": "eggplant parmesan",
    "veggie burgers": "veggie burger",
    "vegetarian burger": "veggie burger",
    "mushroom risotto": "risotto",
    "egg fried rice": "fried rice",
    "biryani": "chicken biryani",
    "biriyani": "chicken biryani",
    "sushi": "sushi rolls",
    "maki rolls": "sushi rolls",
    "guac": "guacamole",
    "houmous": "hummus",
    "hummous": "hummus",
    "humus": "hummus",
    "spring roll": "spring rolls",
    "lassi": "mango lassi",
    "hot cocoa": "hot chocolate",
    "smoothie": "berry smoothie",
    "chai": "chai latte",
}

# Any run of them ("an easy apple pie"), and one standing alone ("a recipe for the.") is no dish.
_ARTICLES = re.compile(r"^(?:(?:a|an|the|some|my|your|our|classic|easy|simple|homemade|quick)(?:\s+|$))+")
_SPACES = re.compile(r"\s+")


def _normalize(text: str) -> str:
    text = text.lower().replace("’", "'").replace("-", " ")
    return _SPACES.sub(" ", text).strip(" .,!?;:\"'()")


def _plural_forms(name: str) -> set[str]:
    forms = {name}
    if name.endswith("s"):
        forms.add(name[:-1] if not name.endswith("ss") else name)
    else:
        forms.add(name + "s")
        forms.add(name + "es")
    return forms


def _surface_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for canonical in RECIPE_CATALOGUE:
        for form in _plural_forms(_normalize(canonical)):
            forms.setdefault(form, canonical)
    for alias, canonical in RECIPE_ALIASES.items():
        for form in _plural_forms(_normalize(alias)):
            forms.setdefault(form, canonical)
    return forms


_FORMS = _surface_forms()
# Longest first, so "chicken noodle soup" wins over "chicken soup" and "mac and cheese" over "mac".
_MENTION = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(form) for form in sorted(_FORMS, key=len, reverse=True)) + r")(?![\w'])"
)
_SEED_PATTERNS = [re.compile(p) for p in (r"recipe for (.+?)(?:[.,!?:;]|$)", r"how to make (.+?)(?:[.,!?:;]|$)")]
_MAX_FALLBACK_WORDS = 4


def canonical_recipe_name(name: str | None) -> str | None:
    """The catalogue name for ``name`` (any case, plural, article or known variant), or the
    normalized name itself when it is not in the catalogue."""
    if not name:
        return None
    normalized = _ARTICLES.sub("", _normalize(name))
    if not normalized:
        return None
    return _FORMS.get(normalized, normalized)


def recipe_category(name: str | None) -> str | None:
    """Category of a canonical name; ``other`` for names outside the catalogue."""
    if name is None:
        return None
    return RECIPE_CATALOGUE.get(name, "other")


@lru_cache(maxsize=65536)
def extract_recipe(text: str | None) -> str | None:
    """The canonical recipe a message names, or None.

    The first catalogue mention wins; otherwise a short phrase after "recipe for" / "how to make"
    (the seed's patterns), normalized, so dishes outside the catalogue still count."""
    if not text:
        return None
    lowered = _normalize(text.replace("\n", " "))
    found = _MENTION.search(lowered)
    if found:
        return _FORMS[found.group(1)]
    for pattern in _SEED_PATTERNS:
        match = pattern.search(lowered)
        if match:
            phrase = _ARTICLES.sub("", match.group(1).strip())
            if phrase and len(phrase.split()) <= _MAX_FALLBACK_WORDS and not any(c in phrase for c in "[]"):
                return canonical_recipe_name(phrase)
    return None


def extract_recipes(texts: Iterable[str | None]) -> list[str | None]:
    """List form of ``extract_recipe_column``."""
    return extract_recipe_column(pa.array(list(texts), pa.string())).to_pylist()


# ``_normalize`` and ``_MENTION`` for RE2 (pyarrow, a whole column at once), exact for ASCII text.
# The pattern reads the lowered text as it is, rather than a normalized copy (normalizing cost as
# much as the search): what ``_normalize`` turns into one space, a run of "-" and Python's ASCII
# \s (which also takes \v and \x1c-\x1f), is a run of ``_SPACE`` between a form's words and
# counts as stripped at the text's ends, which the pattern reaches through stripped characters.
# Lookarounds become a consumed non-word character; the form found is normalized after.
# ``test_the_column_form_is_extract_recipe`` holds it to ``extract_recipe``.
_SPACE = r"[\t\n\v\f\r \x1c-\x1f-]"
_STRIPPED = r"[\t\n\v\f\r \x1c-\x1f\-.,!?;:\"'()]"
_MENTION_RE2 = (
    r"(?:^" + _STRIPPED + r"*|[^\w'])(?P<form>"
    + "|".join((_SPACE + "+").join(re.escape(word) for word in form.split(" ")) for form in sorted(_FORMS, key=len, reverse=True))
    + r")(?:[^\w']|" + _STRIPPED + r"*$)"
)
# A superset of the texts whose normalized form holds "recipe for " or "how to make ".
_SEED_PHRASE_RE2 = f"recipe{_SPACE}+for{_SPACE}|how{_SPACE}+to{_SPACE}+make{_SPACE}"

# Replies name their dish early. Extracting the ``form`` group costs the same however near the
# start the mention is: RE2 finds a submatch by walking the 532-way alternation again. Marking
# the whole match (``\0``) needs no submatch, only RE2's DFA, so each text's prefix is marked
# first, at about half the cost (0.24 s against 0.42 s for 262k replies of 455 characters).
# A mark is the text's first mention when what follows it up to the cut is, once separator runs
# count as one character, at least ``_WIDEST`` long: then any match starting no later (a longer,
# higher-priority form included) lies inside the prefix as well. The rest, texts the prefix
# cannot settle, are extracted whole.
MENTION_PREFIX = 96
_WIDEST = max(map(len, _FORMS)) + 2  # a form and a context character either side
_MARK, _MARKED, _MARK_CHARACTERS = "\x01\\0\x02", "\x01(?P<mention>[^\x02]*)\x02", "[\x01\x02]"
# Every ASCII character RE2's \w leaves out: what surrounds a form, which starts and ends with \w.
_NOT_WORD = "".join(chr(code) for code in range(128) if not re.fullmatch(r"[0-9A-Za-z_]", chr(code)))
# The catalogue as two aligned columns: each surface form and its canonical name.
_FORM_NAMES, _FORM_TEXTS = pa.array(list(_FORMS.values()), pa.string()), pa.array(list(_FORMS), pa.string())


def extract_recipe_column(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``extract_recipe`` over a column, vectorized: RE2 finds the first catalogue mention of every
    ASCII message in one pass (a slice per core). Python sees only the rest (non-ASCII text, and
    messages with a seed phrase but no catalogue dish), each distinct text once."""
    return on_every_core(_extract_recipes, one_array(texts))


def _extract_recipes(texts: pa.Array) -> pa.Array:
    ascii_ = pc.fill_null(pc.string_is_ascii(texts), True)
    lowered = pc.ascii_lower(pc.if_else(ascii_, texts, pa.scalar(None, pa.string())))
    names = _canonical_names(_first_mentions(lowered))
    # No mention found by RE2: Python decides the non-ASCII texts and the seed phrases. Only the
    # ASCII texts without a mention are searched for a seed phrase (most replies name a dish).
    undecided = pc.and_(pc.is_valid(texts), pc.is_null(names))
    in_python = pc.and_(undecided, pc.invert(ascii_))
    unmentioned = pc.and_(undecided, ascii_)
    if pc.any(unmentioned).as_py():
        seed_phrase = pc.match_substring_regex(lowered.filter(unmentioned), _SEED_PHRASE_RE2)
        in_python = pc.or_(in_python, pc.replace_with_mask(unmentioned, unmentioned, seed_phrase))
    if pc.any(in_python).as_py():
        found = [extract_recipe(text) for text in texts.filter(in_python).to_pylist()]
        names = pc.replace_with_mask(names, in_python, pa.array(found, pa.string()))
    return names


def _canonical_names(forms: pa.Array) -> pa.Array:
    """The catalogue name of each form found as written; a form whose words a separator run other
    than one space parts ("stir-fry", "mac  and cheese") is looked up once its runs are spaces."""
    names = pc.take(_FORM_NAMES, pc.index_in(forms, _FORM_TEXTS))
    respaced = pc.and_(pc.is_valid(forms), pc.is_null(names))
    if pc.any(respaced).as_py():
        forms = pc.replace_substring_regex(forms.filter(respaced), _SPACE + "+", " ")
        names = pc.replace_with_mask(names, respaced, pc.take(_FORM_NAMES, pc.index_in(forms, _FORM_TEXTS)))
    return names


def _first_mentions(lowered: pa.Array) -> pa.Array:
    """Each lowered ASCII text's first ``_MENTION_RE2`` form, as written (see ``MENTION_PREFIX``)."""
    prefix = pc.utf8_slice_codeunits(lowered, 0, MENTION_PREFIX)
    marked = pc.replace_substring_regex(prefix, _MENTION_RE2, _MARK)
    forms = pc.utf8_trim(pc.struct_field(pc.extract_regex(marked, _MARKED), "mention"), _NOT_WORD)
    mark_end = pc.subtract(pc.find_substring(marked, "\x02"), 1)  # in the prefix: one mark before it
    reach = pc.add(mark_end, _WIDEST)
    # One pass finds the prefixes that need a closer look: a separator run (a form's words may be
    # parted by any run, which counts as one character of the reach) or a mark character of the
    # text's own (its marks cannot be told apart: such a text is extracted whole).
    closer = pc.fill_null(pc.match_substring_regex(prefix, f"{_MARK_CHARACTERS}|{_SPACE}{{2}}"), False)
    own_marks = closer
    if pc.any(closer).as_py():
        runs = prefix.filter(closer)
        collapsed = pc.subtract(pc.binary_length(runs), pc.binary_length(pc.replace_substring_regex(runs, _SPACE + "{2,}", " ")))
        reach = pc.replace_with_mask(reach, closer, pc.add(reach.filter(closer), collapsed))
        own_marks = pc.replace_with_mask(closer, closer, pc.match_substring_regex(runs, _MARK_CHARACTERS))
    settled = pc.and_(
        pc.or_(
            pc.less_equal(pc.binary_length(lowered), MENTION_PREFIX),  # ASCII: a byte is a character
            pc.and_(pc.greater_equal(mark_end, 0), pc.less_equal(reach, MENTION_PREFIX)),
        ),
        pc.invert(own_marks),
    )
    # A text the prefix does not settle, for whatever reason, is extracted whole.
    unsettled = pc.and_(pc.is_valid(lowered), pc.invert(pc.fill_null(settled, False)))
    if pc.any(unsettled).as_py():
        whole = pc.struct_field(pc.extract_regex(lowered.filter(unsettled), _MENTION_RE2), "form")
        forms = pc.replace_with_mask(forms, unsettled, whole)
    return forms


def recipe_category_column(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``recipe_category`` over a column of canonical names."""
    distinct, indices = by_distinct(names)
    return pa.array([recipe_category(name) for name in distinct], pa.string()).take(indices)
