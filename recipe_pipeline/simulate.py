"""Realistic synthetic chatbot traffic, written as DynamoDB exports in AWS's layout.

The simulated table history is what the app would write through the tracker: one item per
message (``conversation_id``, ``timestamp``, ``user_id``, ``role``, ``message``, ``metadata``,
``date_str``, ``ttl``, and the seed's ``has_recipe``/``recipe_name`` on some app versions), with

- users with their own activity level, join day and churn, so many return and some leave;
- multi-turn conversations at realistic hours, some starting just before midnight and running
  into the next day, some written late (the write lands in the next day's export);
- assistant replies naming recipes from the catalogue (in varied spellings), tool calls
  (``web_search``, ``cookware_check``, ``timer``, ``unit_conversion``) in metadata, ratings;
- user messages with PII in the shapes people type (emails, phone numbers, card numbers);
- edits (an item rewritten later, sometimes on a later day) and erasure requests (every item of
  a user deleted);
- timestamps as the seed's naive ``isoformat()`` and as RFC 3339 with ``Z`` (two app versions).

Exports: one FULL export as of the end of the first day, then one INCREMENTAL export per day
covering midnight to midnight UTC. Everything is a function of ``SimulationConfig`` (``seed``),
so the same config writes byte-identical exports.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from recipe_pipeline.export_writer import ExportWriter, TableHistory, item_key
from recipe_pipeline.exports import ExportStore
from recipe_pipeline.recipes import RECIPE_ALIASES, RECIPE_CATALOGUE
from recipe_pipeline.storage import Location

TOOLS = ("web_search", "cookware_check", "timer", "unit_conversion")
TTL_DAYS = 90
# Share of conversations per UTC hour (people cook around lunch and dinner).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 6, 7, 6, 6, 9, 12, 9, 6, 6, 8, 12, 15, 14, 11, 8, 5, 3]


@dataclass(frozen=True)
class SimulationConfig:
    start: date = date(2025, 1, 1)
    days: int = 14
    seed: int = 7
    users: int = 300
    conversations_per_day: int = 140
    view: str = "NEW_AND_OLD_IMAGES"
    pii_rate: float = 0.04  # share of user messages that carry PII
    edit_rate: float = 0.01  # share of assistant messages rewritten later
    erasure_users: int = 2
    files_per_export: int = 4

    @property
    def end(self) -> datetime:
        """The instant the last simulated day ends (exclusive)."""
        return datetime.combine(self.start + timedelta(days=self.days), time(), UTC)


@dataclass
class SimulationStats:
    """What the exports hold, as of the end of the last day (after edits and erasures)."""

    messages: int = 0
    conversations: int = 0
    users: int = 0
    edits: int = 0
    deletions: int = 0
    pii_messages: int = 0
    messages_per_day: dict[str, int] = field(default_factory=dict)
    conversations_per_day: dict[str, int] = field(default_factory=dict)
    users_per_day: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulationResult:
    export_ids: list[str]
    stats: SimulationStats
    url: str


# -- text --------------------------------------------------------------------------------------
_FIRST_NAMES = ["Maria", "James", "Aisha", "Chen", "Olivia", "Lukas", "Priya", "Tom", "Sofia", "Kwame"]
_DOMAINS = ["gmail.com", "outlook.com", "example.org", "yahoo.co.uk", "proton.me"]
_LAST_NAMES = ["Connor", "Okafor", "Nakamura", "Smith", "Patel"]
_STREETS = ["Baker Street", "Elm Road", "Oak Avenue", "Maple Drive", "Church Lane"]
_IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "NL91ABNA0417164300"]
_CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "4012888888881881", "6011 1111 1111 1117"]
_ASKS = [
    "Can you give me a recipe for {name}?",
    "How do I make {name}?",
    "I want to cook {name} tonight, any tips?",
    "what's a good {name} recipe for 4 people",
    "Is {name} hard to make? I only have 30 minutes.",
    "my kids love {name}, how do i make it healthier",
]
_ANSWERS = [
    "Here's a recipe for {name}: you'll need about 45 minutes. Preheat the oven to 200C and prep the ingredients first.",
    "How to make {name}: start by gathering everything, then follow these 6 steps. Serves 4-6.",
    "Great choice! {Name} is easier than it looks. Use 1 1/2 cups of stock and simmer for 25-30 minutes.",
    "Try this {name}. It takes 20 minutes of prep and 40 minutes of cooking at 180C.",
]
_VAGUE_ASKS = ["What should I cook tonight?", "I have chicken and rice, ideas?", "Something quick for dinner?"]
_VAGUE_ANSWERS = ["Tell me what you have in the fridge and I'll suggest something.", "How much time do you have? I can suggest a few options."]
_FOLLOW_UPS = [
    "Can I use a 9x13 pan instead?",
    "How long does it keep in the fridge?",
    "What can I substitute for butter?",
    "Can I double it for 8 people?",
    "What temperature in Fahrenheit?",
]
_FOLLOW_UP_ANSWERS = [
    "Yes, a 9x13 pan works; reduce the baking time by about 5 minutes.",
    "It keeps 3-4 days in an airtight container in the fridge.",
    "Olive oil works well, use about 3/4 of the amount.",
    "Sure, double everything but cook it in two batches.",
    "200C is about 400F; 180C is about 350F.",
]
_THANKS = ["Thanks, it worked perfectly!", "That was delicious, thank you!", "Thanks!", "Perfect, my family loved it."]
_UNHAPPY = ["That didn't help, it burned.", "Hmm, it came out too dry.", "Not what I was looking for."]


def pii_message(rng: random.Random) -> str:
    name = rng.choice(_FIRST_NAMES)
    shapes = [
        f"Can you email the shopping list to {name.lower()}.{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}?",
        f"Text me the steps at ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)} please",
        f"My number is +44 20 7946 {rng.randint(1000, 9999)}, call me when it's ready",
        f"you can reach me on 07700 900{rng.randint(100, 999)}",
        f"I'm {name}, send it to {name.lower()}@{rng.choice(_DOMAINS)} or call 415-555-{rng.randint(1000, 9999)}",
        f"Put it on my card {rng.choice(_CARDS)} for the ingredients delivery",
        f"my phone is {rng.randint(201, 989)}.{rng.randint(200, 999)}.{rng.randint(1000, 9999)}",
        f"Hi, my name is {name} {rng.choice(_LAST_NAMES)}, I'm new to cooking",
        f"I live at {rng.randint(1, 999)} {rng.choice(_STREETS)}, what grows well here?",
        f"refund to my IBAN {rng.choice(_IBANS)} please",
        f"the app breaks when I connect from {rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"the cooking class form wants my SSN {rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}, is that normal?",
    ]
    return rng.choice(shapes)


def _surface(rng: random.Random, canonical: str) -> str:
    """How a reply writes a recipe name: usually canonical, sometimes a variant or capitalized."""
    aliases = [alias for alias, target in RECIPE_ALIASES.items() if target == canonical]
    name = rng.choice(aliases) if aliases and rng.random() < 0.25 else canonical
    return name.title() if rng.random() < 0.3 else name


# -- history -----------------------------------------------------------------------------------
@dataclass
class _User:
    user_id: str
    weight: float
    joins: int  # first day index on which the user can appear
    churns: int  # day index from which the user no longer appears
    naive_timestamps: bool  # old app version: naive isoformat timestamps


def _users(rng: random.Random, config: SimulationConfig) -> list[_User]:
    users = []
    for _ in range(config.users):
        joins = 0 if rng.random() < 0.6 else rng.randrange(config.days)
        churns = config.days if rng.random() < 0.8 else rng.randrange(joins + 1, config.days + 1)
        users.append(
            _User(
                user_id=f"user-{rng.getrandbits(48):012x}",
                weight=rng.paretovariate(1.6),
                joins=joins,
                churns=churns,
                naive_timestamps=rng.random() < 0.5,
            )
        )
    return users


def _timestamp(moment: datetime, naive: bool) -> str:
    if naive:  # the seed's datetime.utcnow().isoformat()
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item(user: _User, conversation_id: str, moment: datetime, role: str, message: str, metadata: dict) -> dict:
    item = {
        "conversation_id": conversation_id,
        "timestamp": _timestamp(moment, user.naive_timestamps),
        "user_id": user.user_id,
        "role": role,
        "message": message[:500],
        "metadata": metadata,
        "date_str": moment.strftime("%Y-%m-%d"),
        "ttl": int((moment + timedelta(days=TTL_DAYS)).timestamp()),
    }
    return item


def _conversation(rng: random.Random, user: _User, start: datetime, config: SimulationConfig) -> list[tuple[dict, datetime, bool]]:
    """The items of one conversation, each with the instant it is written and whether its
    message carries PII."""
    conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    recipe = rng.choice(list(RECIPE_CATALOGUE)) if rng.random() < 0.85 else None
    turns: list[tuple[str, str, dict]] = []
    pii_turns: set[int] = set()
    if recipe:
        turns.append(("user", rng.choice(_ASKS).format(name=_surface(rng, recipe)), {}))
    else:
        turns.append(("user", rng.choice(_VAGUE_ASKS), {}))
        turns.append(("assistant", rng.choice(_VAGUE_ANSWERS), {"model": "chef-v2"}))
        recipe = rng.choice(list(RECIPE_CATALOGUE)) if rng.random() < 0.6 else None
        if recipe:
            turns.append(("user", f"ok let's do {_surface(rng, recipe)}", {}))
    if recipe:
        tools = sorted(rng.sample(TOOLS, k=rng.choice([0, 0, 1, 1, 2])))
        if "cookware_check" in tools and rng.random() < 0.5:
            turns.append(("tool", "cookware_check: user has a 9x13 pan and a dutch oven", {"tool": "cookware_check"}))
        name = _surface(rng, recipe)
        answer = rng.choice(_ANSWERS).format(name=name, Name=name[:1].upper() + name[1:])
        turns.append(("assistant", answer, {"tools_used": tools, "model": "chef-v2"}))
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            index = rng.randrange(len(_FOLLOW_UPS))
            if rng.random() < config.pii_rate:
                pii_turns.add(len(turns))
                turns.append(("user", pii_message(rng), {}))
            else:
                turns.append(("user", _FOLLOW_UPS[index], {}))
            turns.append(("assistant", _FOLLOW_UP_ANSWERS[index], {"tools_used": ["unit_conversion"] if "Fahrenheit" in _FOLLOW_UPS[index] else [], "model": "chef-v2"}))
        ending = rng.random()
        if ending < 0.45:
            turns.append(("user", rng.choice(_THANKS), {"rating": rng.choice([4, 5, 5]) if rng.random() < 0.4 else None}))
        elif ending < 0.55:
            turns.append(("user", rng.choice(_UNHAPPY), {"rating": rng.choice([1, 2]) if rng.random() < 0.5 else None}))
    if rng.random() < config.pii_rate:
        pii_turns.add(len(turns))
        turns.append(("user", pii_message(rng), {}))

    items = []
    moment = start
    for position, (role, text, metadata) in enumerate(turns):
        metadata = {k: v for k, v in metadata.items() if v is not None}
        item = _item(user, conversation_id, moment, role, text, metadata)
        if role == "assistant" and recipe and rng.random() < 0.5:
            # One app version also stored the seed's write-time guesses.
            item["has_recipe"] = True
            item["recipe_name"] = recipe
        write_at = moment + timedelta(milliseconds=rng.randint(5, 3000))
        items.append((item, write_at, position in pii_turns))
        moment += timedelta(seconds=rng.randint(15, 240), microseconds=rng.randrange(1_000_000))
    return items


def build_history(config: SimulationConfig) -> tuple[TableHistory, SimulationStats]:
    """The table's write history over the simulated days, and what it holds at the end."""
    rng = random.Random(config.seed)
    users = _users(rng, config)
    history = TableHistory()
    stats = SimulationStats()
    written: list[tuple[dict, datetime]] = []
    pii_keys: set[tuple[str, str]] = set()

    for day_index in range(config.days):
        day = config.start + timedelta(days=day_index)
        weekend = day.weekday() >= 5
        n = max(1, round(config.conversations_per_day * (1.25 if weekend else 1.0) * rng.uniform(0.85, 1.15)))
        active = [u for u in users if u.joins <= day_index < u.churns] or users
        weights = [u.weight for u in active]
        for _ in range(n):
            user = rng.choices(active, weights)[0]
            hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
            start = datetime.combine(day, time(hour), UTC) + timedelta(seconds=rng.randrange(3600), microseconds=rng.randrange(1_000_000))
            if rng.random() < 0.03:  # a late-night conversation that runs past midnight
                start = datetime.combine(day, time(23, 55), UTC) + timedelta(seconds=rng.randrange(240))
            for item, write_at, has_pii in _conversation(rng, user, start, config):
                history.put(item, write_at)
                written.append((item, write_at))
                if has_pii:
                    pii_keys.add(item_key(item))

    # Edits: an assistant reply rewritten minutes to a day later (a corrected answer).
    edits: list[tuple[dict, datetime]] = []
    for item, write_at in written:
        if item["role"] == "assistant" and rng.random() < config.edit_rate:
            edited_at = write_at + timedelta(minutes=rng.randint(2, 1440))
            if edited_at < config.end:
                edits.append(({**item, "message": item["message"] + " (Edited: check the oven temperature.)"}, edited_at))

    # Erasure requests: every item of a user deleted, part-way through the period.
    seen_users = sorted({i["user_id"] for i, _ in written})
    # Requests fall on a day after the first: a one-day simulation (just the full export) has none.
    erased = rng.sample(seen_users, k=min(config.erasure_users, len(seen_users))) if config.days > 1 else []
    erased_at: dict[tuple[str, str], datetime] = {}
    for user_id in erased:
        requested = datetime.combine(config.start + timedelta(days=rng.randrange(1, config.days)), time(), UTC) + timedelta(hours=rng.randint(8, 20))
        for item, write_at in written:
            if item["user_id"] == user_id and write_at < requested:
                history.delete(item_key(item), requested + timedelta(milliseconds=rng.randint(1, 500)))
                erased_at[item_key(item)] = requested
                stats.deletions += 1
    # An erased message is never edited afterwards (that would write it back).
    for item, edited_at in edits:
        if item_key(item) not in erased_at or edited_at < erased_at[item_key(item)]:
            history.put(item, edited_at)
            stats.edits += 1

    final = history.state_at(config.end)
    messages_per_day: Counter[str] = Counter()
    conversations_per_day: dict[str, set[str]] = {}
    users_per_day: dict[str, set[str]] = {}
    for (conversation_id, timestamp), item in final.items():
        day = timestamp[:10]
        messages_per_day[day] += 1
        conversations_per_day.setdefault(day, set()).add(conversation_id)
        users_per_day.setdefault(day, set()).add(item["user_id"])
    stats.messages = len(final)
    stats.conversations = len({key[0] for key in final})
    stats.users = len({item["user_id"] for item in final.values()})
    stats.pii_messages = len(pii_keys & final.keys())
    stats.messages_per_day = dict(sorted(messages_per_day.items()))
    stats.conversations_per_day = {d: len(v) for d, v in sorted(conversations_per_day.items())}
    stats.users_per_day = {d: len(v) for d, v in sorted(users_per_day.items())}
    return history, stats


def planned_exports(config: SimulationConfig) -> list[tuple[str, datetime, datetime | None]]:
    """(kind, from-or-export-time, to) for each export, in the order they complete."""
    first_end = datetime.combine(config.start + timedelta(days=1), time(), UTC)
    plan: list[tuple[str, datetime, datetime | None]] = [("FULL", first_end, None)]
    for day_index in range(1, config.days):
        window_start = first_end + timedelta(days=day_index - 1)
        plan.append(("INCREMENTAL", window_start, window_start + timedelta(days=1)))
    return plan


def write_simulation(exports: Location, config: SimulationConfig, *, force: bool = False) -> SimulationResult:
    """Write the simulated exports under ``exports`` (the folder that will hold ``AWSDynamoDB/``).

    Re-running the same config rewrites the same bytes; a location that holds exports this config
    did not write is refused (``FileExistsError``) unless ``force``, so a demo never mixes with
    real or other simulated data."""
    history, stats = build_history(config)
    writer = ExportWriter(exports, files_per_export=config.files_per_export)
    # Export ids depend on the whole config, so another simulation is never mistaken for this one.
    config_tag = hashlib.sha256(repr(config).encode()).hexdigest()
    export_ids = []
    for kind, moment, until in planned_exports(config):
        if kind == "FULL":
            export_ids.append(writer.export_id_for(moment, "full", config_tag))
        else:
            export_ids.append(writer.export_id_for(until + timedelta(minutes=10), "incremental", moment.isoformat(), config_tag))

    foreign = sorted(set(ExportStore(exports).export_ids()) - set(export_ids))
    if foreign and not force:
        raise FileExistsError(
            f"{exports.uri()} already holds {len(foreign)} export(s) this simulation did not write "
            f"(e.g. {foreign[0]}); choose another location or pass --force"
        )
    for (kind, moment, until), export_id in zip(planned_exports(config), export_ids):
        if ExportStore(exports).is_complete(export_id):
            continue  # identical bytes already there; rewriting would only touch mtimes
        if kind == "FULL":
            writer.write_full_export(history.state_at(moment).values(), moment, export_id=export_id)
        else:
            writer.write_incremental_export(history.changes_between(moment, until), moment, until, view=config.view, export_id=export_id)
    return SimulationResult(export_ids, stats, exports.uri())
