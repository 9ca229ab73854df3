"""The labeled PII corpus: realistic chat sentences with PII of every kind, and cooking sentences
full of numbers that must come through untouched.

``python -m bench.pii_corpus`` rewrites ``bench/pii_corpus.jsonl`` (shipped in the repository,
deterministic). Each line: ``{"text": ..., "pii": [{"kind": ..., "value": ...}, ...]}``; an empty
``pii`` list marks a negative (cooking) sentence.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.jsonl import read_jsonl, write_jsonl

CORPUS_PATH = Path(__file__).with_name("pii_corpus.jsonl")

FIRST = ["Sarah", "James", "Aisha", "Chen", "Olivia", "Lukas", "Priya", "Tomás", "Sofia", "Kwame", "Mei", "Oliver", "Fatima", "Noah", "Ingrid"]
LAST = ["Connor", "O'Neil", "Smith", "Nakamura", "García", "Okafor", "Schmidt", "Patel", "Novak", "Larsen"]
DOMAINS = ["gmail.com", "outlook.com", "example.org", "yahoo.co.uk", "proton.me", "mail.company.io", "uni-heidelberg.de"]
STREETS = ["Baker Street", "Elm Road", "Oak Avenue", "Maple Drive", "Pennsylvania Ave", "High St", "Church Lane", "Sunset Boulevard", "Kings Court", "Harbour Way"]
CARDS = [
    "4111111111111111", "5555555555554444", "378282246310005", "371449635398431", "6011111111111117",
    "3530111333300000", "4012888888881881", "5105105105105100", "6011000990139424", "30569309025904",
]
IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300", "ES9121000418450200051332", "IT60X0542811101000000123456", "BE68539007547034", "CH9300762011623852957"]

POSITIVE_TEMPLATES = {
    "EMAIL": ["can you email the shopping list to {v}?", "My email is {v}", "send the recipe to {v} please", "{v} is where I get newsletters", "contact me: {v}.", "reach me at {v} or here"],
    "PHONE": ["call me at {v}", "my number is {v}, text when ready", "Text {v} the ingredient list", "you can reach me on {v}", "phone: {v}", "my wife's cell is {v} if I don't answer"],
    "CARD": ["put it on my card {v} for the delivery", "card number {v} exp 12/27", "use {v} to pay for the groceries", "my visa is {v}", "charge {v} please"],
    "IBAN": ["transfer it to my IBAN {v}", "IBAN: {v}", "my account is {v} for the refund", "send the money to {v} thanks"],
    "SSN": ["my SSN is {v}", "social security number {v} for the form", "SSN: {v}", "is {v} needed for the cooking class signup?", "ssn {v}"],
    "IP": ["the app fails from {v}", "my router is {v} and the page won't load", "server at {v} keeps timing out", "I'm connecting from {v}"],
    "ADDRESS": ["I live at {v}, can you suggest local produce?", "deliver to {v} please", "my address is {v}", "ship it to {v}.", "send them to {v} by Friday"],
    "NAME": ["my name is {v} and I love baking", "Hi! My name is {v}.", "call me {v}, everyone does", "I'm called {v} by my friends", "hello, my name's {v}"],
}


def _phone(rng: random.Random) -> str:
    area, mid, last = rng.randint(201, 989), rng.randint(200, 999), rng.randint(1000, 9999)
    shapes = [
        f"({area}) {mid}-{last}", f"{area}-{mid}-{last}", f"{area}.{mid}.{last}", f"{area} {mid} {last}", f"{area}{mid}{last}",
        f"+1 {area} {mid} {last}", f"+1-{area}-{mid}-{last}", f"+44 20 7946 {rng.randint(1000, 9999)}",
        f"07700 900{rng.randint(100, 999)}", f"+44 7700 900{rng.randint(100, 999)}", f"020 7946 {rng.randint(1000, 9999)}",
        f"+61 2 9374 {rng.randint(1000, 9999)}", f"+91 98765 {rng.randint(10000, 99999)}", f"1-800-555-{rng.randint(1000, 9999)}",
        f"+4420 7946{rng.randint(1000, 9999)}", f"(020) 7946 {rng.randint(1000, 9999)}", f"+1 ({area}) {mid}-{last}", f"{area}/{mid}-{last}",
    ]
    return rng.choice(shapes)


def _card(rng: random.Random) -> str:
    digits = rng.choice(CARDS)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)] if len(digits) == 16 else [digits[:4], digits[4:10], digits[10:]]
    return sep.join(groups)


def _iban(rng: random.Random) -> str:
    value = rng.choice(IBANS)
    value = " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value
    return value.lower() if rng.random() < 0.1 else value


def _ssn(rng: random.Random) -> str:
    area, group, serial = rng.randint(1, 665), rng.randint(1, 99), rng.randint(1, 9999)
    sep = rng.choice(["-", "-", " "])

    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    return rng.choice([":".join(groups), f"2001:db8::{groups[0]}:{groups[1]}", f"fe80::{groups[2]}:{groups[3]}:{groups[4]}"])


def _address(rng: random.Random) -> str:
    number = rng.choice([str(rng.randint(1, 9999)), f"{rng.randint(1, 300)}B"])
    city = rng.choice(["", ", London", ", Springfield", ", Austin"])
    flat = rng.choice(["", "", "", "Flat 3, ", "Apt 12, "])
    return f"{flat}{number} {rng.choice(STREETS)}{city}"


def _name(rng: random.Random) -> str:
    name = rng.choice(FIRST) + (" " + rng.choice(LAST) if rng.random() < 0.5 else "")
    return name.lower() if rng.random() < 0.15 and " " not in name else name


GENERATORS = {
    "EMAIL": lambda rng: f"{rng.choice(FIRST).lower()}{rng.choice(['.', '_', ''])}{rng.choice(LAST).lower().replace(chr(39), '')}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}".replace("á", "a").replace("í", "i"),
    "PHONE": _phone,
    "CARD": _card,
    "IBAN": _iban,
    "SSN": _ssn,
    "IP": _ip,
    "ADDRESS": _address,
    "NAME": _name,
}

NEGATIVE_TEMPLATES = [
    "Bake at {temp}F for {a}-{b} minutes.",
    "Preheat the oven to {c}C (about {temp}F) and bake for {a} minutes.",
    "Serves {s}-{s2}; use {f} cups of flour.",
    "Use a 9x13 pan or two 8x8 pans.",
    "Simmer for {a}-{b} minutes, then rest {r} minutes.",
    "Start at {h}:{m:02d} and it's ready by {h2}:{m:02d}.",
    "My grandmother made this in {year}, it's about {kcal} calories per serving.",
    "Mix {f} cups sugar with {g} g butter and {e} eggs.",
    "Roast {w} kg of chicken for {a} minutes per 500 g plus {r} minutes.",
    "From {year} to {year2} I baked {n} loaves of sourdough.",
    "Set the timer for {h}:{m:02d}:{sec:02d}.",
    "Each 100 g has {kcal} kcal, {p} g protein and {carb} g carbs.",
    "Order #{order} arrived with {e} lemons and {n} limes.",
    "Ratio is 1:2:3 for the dressing, whisk for {a} seconds.",
    "Cook on step {s} of {s2}, 2 1/2 tbsp of oil, {g} ml stock.",
    "It's recipe {s} of {n} in the book, page {page}.",
    "The {year} edition says {temp}°F for {a}-{b} min.",
    "Chill {r} hours; the fridge is at 4C and the freezer at -18C.",
    "Batch of {n} cookies, {kcal} kcal total, {g} g dough each.",
    "My cake was {a} cm wide, {r} cm tall, baked at {c}°C.",
    "Measure 1/4 tsp salt, 3/4 cup milk and 1 1/3 cups oats.",
    "Version 2.0.1 of the app shows 350 degrees.",
    "On 2024-11-25 I made {n} pancakes between 7:30 and 8:15.",
    "Prices: 2 x 400g tins for 3.50, 12 eggs for 4.20.",
    "Call the bakery when the {n} loaves are out of the oven.",
    "My name for this dish is grandma's stew.",
    "Lay the tray on the middle rack at {c}C for {a} minutes.",
    "Stir, then drive the mixer at speed {s} for {a} seconds.",
    "Use 1,200 g flour, 800 ml water and 24 g salt.",
    "Between {year} and {year2} our restaurant served {kcal}0 covers a night.",
    "Call me when the timer hits {h}:{m:02d}, I'll be in the garden.",
    "My name is on the recipe card, it's from {year}.",
    "I live at altitude, {n}00 feet up; how do I adjust the baking time?",
    "Send it to the freezer for {r} hours at -18C.",
    "Ship to table at {c}C, rest {a} minutes.",
    "Place 12 Large Eggs in the pot and boil {a} minutes.",
    "The IP rating of my mixer is 44, runs at 1200 W.",
    "Use 3 Roma Tomatoes, 2 Red Onions and 1 Garlic Clove.",
    "Try the 10-10-10 rule: 10 min prep, 10 min cook, 10 min rest.",
    "Room 101 of the cookbook: 1 1/2 lb beef, 2 lb pork, {a} min.",
    "Check the 1:1:1 ratio and the 12:00:00 timer.",
    "Whisk 4 egg whites; 1.5.2 of the guide says {temp}F.",
    "Calories: 250-300-350 for small, medium and large portions.",
    "Call me Chef when it works!",
    "Deliver to the table on a warm plate with 2 sprigs of thyme.",
]


# Text pasted from phones, web forms and other scripts: no-break, thin and ideographic spaces,
# non-breaking hyphens and minus signs, full-width digits; names and addresses in other scripts.
UNICODE_SPACES = ["\u00a0", "\u202f", "\u2009", "\u3000"]
UNICODE_DASHES = ["\u2011", "\u2013", "\u2212"]
UNICODE_NAMES = ["José García", "Zoë Müller", "Jürgen Weiß", "Łukasz Wróbel", "Zoë", "Søren", "Ayşe Yılmaz", "Nguyễn Văn An"]
UNICODE_EMAILS = ["jürgen.müller@example.de", "zoë_l@proton.me", "jane@müller.de", "søren.k@uni-københavn.dk", "ayşe.yılmaz@örnek.com.tr"]


def _pasted(value: str, rng: random.Random) -> str:
    """``value`` as pasted: its spaces, dashes or digits in one of their Unicode forms."""
    style = rng.choice(["spaces", "dashes", "full-width"])
    if style == "full-width":
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in value)
    if style == "dashes" and "-" in value:
        return value.replace("-", rng.choice(UNICODE_DASHES))
    return value.replace(" ", rng.choice(UNICODE_SPACES))


def _unicode_positives(rng: random.Random, per_kind: int) -> list[dict]:
    corpus = []
    for kind, templates in POSITIVE_TEMPLATES.items():
        for _ in range(per_kind):
            if kind == "NAME":
                value = rng.choice(UNICODE_NAMES)
            elif kind == "EMAIL":
                value = rng.choice(UNICODE_EMAILS)
            else:
                value = _pasted(GENERATORS[kind](rng), rng)
            corpus.append({"text": rng.choice(templates).format(v=value), "pii": [{"kind": kind, "value": value}]})
    return corpus


def build_corpus(seed: int = 13, per_kind: int = 50, negatives: int = 360, unicode_per_kind: int = 10) -> list[dict]:
    rng = random.Random(seed)
    corpus = []
    for kind, templates in POSITIVE_TEMPLATES.items():
        for _ in range(per_kind):
            value = GENERATORS[kind](rng)
            text = rng.choice(templates).format(v=value)
            if kind == "SSN" and rng.random() < 0.15:
                # Nine bare digits are an SSN only where the text says so.
                value = value.replace("-", "").replace(" ", "")
                text = rng.choice(["my SSN is {v}", "SSN: {v}", "social security number {v}"]).format(v=value)
            if rng.random() < 0.3:  # inside a longer cooking message
                text = rng.choice(["Making lasagna tonight for 4. ", "Thanks for the pancake tips! ", "Quick one: "]) + text
            corpus.append({"text": text, "pii": [{"kind": kind, "value": value}]})
    for _ in range(negatives):
        values = {
            "temp": rng.choice([325, 350, 375, 400, 425, 450]), "c": rng.choice([160, 180, 200, 220]),
            "a": rng.randint(5, 45), "b": rng.randint(46, 90), "r": rng.randint(2, 30), "s": rng.randint(1, 6),
            "s2": rng.randint(7, 12), "f": rng.choice(["1 1/2", "2", "3/4", "2 1/4"]), "h": rng.randint(6, 11),
            "h2": rng.randint(12, 21), "m": rng.choice([0, 15, 30, 45]), "sec": rng.randint(0, 59),
            "year": rng.randint(1950, 2024), "year2": rng.randint(2025, 2030), "kcal": rng.randint(90, 2500),
            "g": rng.randint(10, 900), "e": rng.randint(1, 12), "w": rng.choice(["1.5", "2", "2.5"]),
            "n": rng.randint(2, 200), "p": rng.randint(1, 40), "carb": rng.randint(1, 80),
            "order": rng.randint(10000, 99999), "page": rng.randint(1, 400),
        }
        corpus.append({"text": rng.choice(NEGATIVE_TEMPLATES).format(**values), "pii": []})
    # Drawn apart, so the sentences above stay as they were.
    return corpus + _unicode_positives(random.Random(seed + 1), unicode_per_kind)


def load_corpus(path: Path = CORPUS_PATH) -> list[dict]:
    return read_jsonl(path)


def main() -> None:
    write_jsonl(CORPUS_PATH, build_corpus())


if __name__ == "__main__":
    main()
