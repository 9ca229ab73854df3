"""Chat text for the scale benchmark: what a recipe chatbot's day looks like to the pipeline.

Assistant replies run to several hundred characters (an intro, an ingredient list with
quantities, steps with times and temperatures, laid out in paragraphs and a line per step) and
are practically never repeated; user messages are short questions and follow-ups, a few with PII
in the shapes people type (``simulate.pii_message``). Cooking steps use the words a naive PII
trigger trips on ("place", "close", "drive", "square"), as real recipes do."""

from __future__ import annotations

import random

from recipe_pipeline.simulate import pii_message

_INTROS = [
    "Here's a recipe for {name}.",
    "Great choice! {Name} is easier than it looks.",
    "Sure, this is how I make {name} at home.",
    "{Name} is a classic; this version serves {serves}.",
    "Happy to help with {name}! It takes about {minutes} minutes in total.",
]
_INGREDIENTS = [
    "plain flour", "butter", "eggs", "whole milk", "caster sugar", "olive oil", "garlic cloves", "onions", "chicken thighs",
    "tinned tomatoes", "vegetable stock", "double cream", "parmesan", "fresh basil", "lemon juice", "soy sauce", "rice",
    "dried pasta", "chickpeas", "spinach", "smoked paprika", "ground cumin", "honey", "baking powder", "dark chocolate",
]
_UNITS = ["g", "ml", "tbsp", "tsp", "cups of", "x"]
_STEPS = [
    "Preheat the oven to {temp}C ({fahrenheit}F) and line a tray with baking paper.",
    "Place the {ingredient} in a large bowl and whisk for {minutes} minutes.",
    "Close the lid and simmer for {low}-{high} minutes, stirring now and then.",
    "Bring a large pot of salted water to the boil and cook for {minutes} minutes.",
    "Heat {quantity} tbsp of oil in a pan over a medium heat.",
    "Fry the onions for {minutes} minutes until soft, then add the garlic.",
    "Bake for {low}-{high} minutes until golden and a skewer comes out clean.",
    "Cut into {serves} squares once it has cooled for {minutes} minutes.",
    "Drive a knife into the thickest part: the juices should run clear.",
    "Season with {quantity} g of salt and a pinch of pepper, then taste.",
    "Let it rest for {minutes} minutes before slicing; it keeps {days} days in the fridge.",
    "Blend until smooth, adding {quantity} ml of water if it is too thick.",
    "Fold in the {ingredient} gently so the mixture stays light.",
    "Serve with a drizzle of {ingredient} and some crusty bread.",
]
_OUTROS = ["Enjoy!", "Let me know how it turns out.", "", "Tip: it freezes well for up to {days} weeks."]
_ASKS = [
    "Can you give me a recipe for {name}?",
    "How do I make {name}? I have about {minutes} minutes.",
    "I want to cook {name} tonight for {serves} people, any tips?",
    "what's a good {name} recipe",
    "my kids love {name}, how do i make it healthier",
    "Is {name} hard to make?",
]
_FOLLOW_UPS = [
    "Can I use a 9x13 pan instead?",
    "How long does it keep in the fridge?",
    "What can I substitute for {ingredient}?",
    "Can I double it for {serves} people?",
    "What temperature is {temp}C in Fahrenheit?",
    "Thanks, it worked perfectly!",
    "That came out too dry, what went wrong?",
]


def _numbers(rng: random.Random) -> dict:
    temp = rng.choice(range(140, 250, 10))
    low = rng.randint(5, 40)
    return {
        "temp": temp, "fahrenheit": round(temp * 9 / 5 + 32), "minutes": rng.randint(2, 90), "low": low,
        "high": low + rng.randint(5, 20), "serves": rng.randint(2, 12), "quantity": rng.randint(1, 500),
        "days": rng.randint(2, 5), "ingredient": rng.choice(_INGREDIENTS),
    }


def assistant_message(rng: random.Random, recipe: str) -> str:
    values = {**_numbers(rng), "name": recipe, "Name": recipe[:1].upper() + recipe[1:]}
    intro = rng.choice(_INTROS).format(**values)
    needed = rng.sample(_INGREDIENTS, rng.randint(3, 8))
    ingredients = "You'll need: " + ", ".join(f"{rng.randint(1, 400)} {rng.choice(_UNITS)} {item}" for item in needed) + "."
    steps = [f"{step}. " + template.format(**_numbers(rng)) for step, template in enumerate(rng.sample(_STEPS, rng.randint(2, 6)), start=1)]
    outro = rng.choice(_OUTROS).format(**values)
    # Laid out as chat replies are: paragraphs, and a line per step.
    return "\n\n".join(part for part in (intro, ingredients, "\n".join(steps), outro) if part)


def user_message(rng: random.Random, recipe: str, pii_rate: float) -> str:
    if rng.random() < pii_rate:
        return pii_message(rng)
    values = {**_numbers(rng), "name": recipe}
    return rng.choice(_ASKS if rng.random() < 0.5 else _FOLLOW_UPS).format(**values)
