"""Build the embedded demo assets: chat data, tokenizer and model config.

Run ``python -m training_hub.demo._build_assets`` to regenerate every file in
this folder. The data comes from fixed templates and a seeded random number
generator, so it is byte-for-byte reproducible; the tokenizer is trained once
on it (plus some generated English prose) and committed, so users never train
it. Needs the ``engine`` extra (tokenizers, transformers) only to run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "build_all",
    "generate_chat_samples",
    "generate_prose",
    "main",
    "model_config",
    "serialize_samples",
]

DEMO_DIR = Path(__file__).resolve().parent
DATA_SEED = 1234
NUM_SAMPLES = 1100
VOCAB_SIZE = 4096

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

Message = dict[str, str]
Turn = tuple[str, str]

# --- fact tables --------------------------------------------------------------------

COUNTRIES: list[tuple[str, str, str, str]] = [
    # country, capital, continent, language
    ("France", "Paris", "Europe", "French"),
    ("Germany", "Berlin", "Europe", "German"),
    ("Italy", "Rome", "Europe", "Italian"),
    ("Spain", "Madrid", "Europe", "Spanish"),
    ("Portugal", "Lisbon", "Europe", "Portuguese"),
    ("Poland", "Warsaw", "Europe", "Polish"),
    ("Greece", "Athens", "Europe", "Greek"),
    ("Sweden", "Stockholm", "Europe", "Swedish"),
    ("Norway", "Oslo", "Europe", "Norwegian"),
    ("Finland", "Helsinki", "Europe", "Finnish"),
    ("Ireland", "Dublin", "Europe", "English"),
    ("Austria", "Vienna", "Europe", "German"),
    ("Hungary", "Budapest", "Europe", "Hungarian"),
    ("Egypt", "Cairo", "Africa", "Arabic"),
    ("Kenya", "Nairobi", "Africa", "Swahili"),
    ("Nigeria", "Abuja", "Africa", "English"),
    ("Morocco", "Rabat", "Africa", "Arabic"),
    ("Ghana", "Accra", "Africa", "English"),
    ("Japan", "Tokyo", "Asia", "Japanese"),
    ("China", "Beijing", "Asia", "Chinese"),
    ("India", "New Delhi", "Asia", "Hindi"),
    ("Thailand", "Bangkok", "Asia", "Thai"),
    ("Vietnam", "Hanoi", "Asia", "Vietnamese"),
    ("Indonesia", "Jakarta", "Asia", "Indonesian"),
    ("Turkey", "Ankara", "Asia", "Turkish"),
    ("Canada", "Ottawa", "North America", "English"),
    ("Mexico", "Mexico City", "North America", "Spanish"),
    ("Cuba", "Havana", "North America", "Spanish"),
    ("Brazil", "Brasilia", "South America", "Portuguese"),
    ("Argentina", "Buenos Aires", "South America", "Spanish"),
    ("Peru", "Lima", "South America", "Spanish"),
    ("Chile", "Santiago", "South America", "Spanish"),
    ("Australia", "Canberra", "Oceania", "English"),
    ("New Zealand", "Wellington", "Oceania", "English"),
]

ANIMALS: list[tuple[str, str, str, str]] = [
    # animal, class, food, home
    ("cat", "mammal", "meat", "houses"),
    ("dog", "mammal", "meat", "houses"),
    ("horse", "mammal", "grass", "fields"),
    ("cow", "mammal", "grass", "farms"),
    ("rabbit", "mammal", "plants", "burrows"),
    ("whale", "mammal", "fish", "the ocean"),
    ("bat", "mammal", "insects", "caves"),
    ("eagle", "bird", "fish", "mountains"),
    ("owl", "bird", "mice", "forests"),
    ("penguin", "bird", "fish", "cold coasts"),
    ("parrot", "bird", "seeds", "rainforests"),
    ("frog", "amphibian", "insects", "ponds"),
    ("salmon", "fish", "insects", "rivers"),
    ("shark", "fish", "fish", "the ocean"),
    ("snake", "reptile", "mice", "grasslands"),
    ("turtle", "reptile", "plants", "lakes"),
    ("bee", "insect", "nectar", "hives"),
    ("ant", "insect", "seeds", "nests"),
]

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "gray"]
FRUITS = [
    "apple",
    "banana",
    "cherry",
    "grape",
    "lemon",
    "mango",
    "orange",
    "peach",
    "pear",
    "plum",
    "kiwi",
    "melon",
]
WORDS = [
    "planet",
    "garden",
    "window",
    "river",
    "pencil",
    "rocket",
    "silver",
    "castle",
    "forest",
    "candle",
    "bridge",
    "market",
    "orange",
    "winter",
    "summer",
    "dragon",
    "butter",
    "yellow",
    "monkey",
    "island",
    "school",
    "travel",
    "number",
    "string",
    "python",
    "teacher",
    "kitchen",
    "picture",
    "morning",
    "holiday",
    "library",
    "machine",
    "weather",
    "rainbow",
    "mountain",
    "computer",
    "elephant",
    "sunlight",
]
NAMES = [
    "Alice",
    "Bob",
    "Carla",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pedro",
]
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are a helpful assistant. Answer briefly.",
    "You are a patient tutor who explains each step.",
    "You are a precise assistant. Give exact answers.",
]


# --- single-turn tasks: each returns (user text, assistant text) -------------------------


def _addition(rng: random.Random) -> Turn:
    a, b = rng.randint(1, 999), rng.randint(1, 999)
    q = rng.choice(["What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} plus {b}."])
    return q.format(a=a, b=b), f"{a} + {b} = {a + b}."


def _subtraction(rng: random.Random) -> Turn:
    a, b = sorted((rng.randint(1, 999), rng.randint(1, 999)), reverse=True)
    q = rng.choice(["What is {a} - {b}?", "Subtract {b} from {a}.", "Compute {a} minus {b}."])
    return q.format(a=a, b=b), f"{a} - {b} = {a - b}."


def _multiplication(rng: random.Random) -> Turn:
    a, b = rng.randint(2, 12), rng.randint(2, 99)
    q = rng.choice(["What is {a} times {b}?", "Multiply {a} by {b}.", "What is {a} * {b}?"])
    return q.format(a=a, b=b), f"{a} * {b} = {a * b}."


def _multiplication_table(rng: random.Random) -> Turn:
    n = rng.randint(2, 12)
    rows = "\n".join(f"{n} x {i} = {n * i}" for i in range(1, 11))
    return f"Write the multiplication table of {n}.", f"Here is the table of {n}:\n{rows}"


def _long_sum(rng: random.Random) -> Turn:
    numbers = [rng.randint(1, 99) for _ in range(rng.randint(3, 6))]
    steps, total = [], 0
    for n in numbers:
        steps.append(f"{total} + {n} = {total + n}")
        total += n
    joined = ", ".join(map(str, numbers))
    body = "\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(steps))
    return (f"Add these numbers step by step: {joined}.", f"{body}\nThe total is {total}.")


def _unit_conversion(rng: random.Random) -> Turn:
    kind = rng.randrange(6)
    if kind == 0:
        km = rng.randint(1, 50)
        return f"How many meters are in {km} kilometers?", f"{km} kilometers is {km * 1000} meters."
    if kind == 1:
        h = rng.randint(1, 24)
        return f"How many minutes are in {h} hours?", f"{h} hours is {h * 60} minutes."
    if kind == 2:
        kg = rng.randint(1, 40)
        return f"Convert {kg} kilograms to grams.", f"{kg} kilograms is {kg * 1000} grams."
    if kind == 3:
        c = rng.randrange(-20, 101, 5)
        f = c * 9 // 5 + 32
        return (
            f"Convert {c} degrees Celsius to Fahrenheit.",
            f"{c} degrees Celsius is {f} degrees Fahrenheit. (F = C * 9 / 5 + 32)",
        )
    if kind == 4:
        m = rng.randint(1, 30)
        return f"How many seconds are in {m} minutes?", f"{m} minutes is {m * 60} seconds."
    d = rng.randint(1, 10)
    return f"How many hours are in {d} days?", f"{d} days is {d * 24} hours."


def _capital(rng: random.Random) -> Turn:
    country, capital, continent, language = rng.choice(COUNTRIES)
    kind = rng.randrange(4)
    if kind == 0:
        return f"What is the capital of {country}?", f"The capital of {country} is {capital}."
    if kind == 1:
        return f"Which continent is {country} in?", f"{country} is in {continent}."
    if kind == 2:
        return (
            f"Which language is spoken in {country}?",
            f"The main language of {country} is {language}.",
        )
    return (
        f"Tell me about {country}.",
        f"{country} is a country in {continent}. Its capital is {capital}, "
        f"and its main language is {language}.",
    )


def _country_table(rng: random.Random) -> Turn:
    rows = rng.sample(COUNTRIES, rng.randint(3, 12))
    lines = "\n".join(f"| {c} | {cap} | {cont} |" for c, cap, cont, _ in rows)
    names = ", ".join(c for c, _, _, _ in rows)
    return (
        f"Make a table of the capitals of {names}.",
        f"| Country | Capital | Continent |\n|---|---|---|\n{lines}",
    )


def _animal(rng: random.Random) -> Turn:
    animal, klass, food, home = rng.choice(ANIMALS)
    kind = rng.randrange(3)
    if kind == 0:
        return f"Is a {animal} a mammal?", (
            f"Yes, a {animal} is a mammal."
            if klass == "mammal"
            else f"No, a {animal} is not a mammal. It is a {klass}."
        )
    if kind == 1:
        return f"What does a {animal} eat?", f"A {animal} mostly eats {food}."
    return (
        f"Describe the {animal} in one sentence.",
        f"The {animal} is a {klass} that eats {food} and lives in {home}.",
    )


def _reverse_word(rng: random.Random) -> Turn:
    word = rng.choice(WORDS)
    q = rng.choice(["Reverse the word '{w}'.", "Spell '{w}' backwards.", "Write {w} in reverse."])
    return q.format(w=word), f"The word '{word}' reversed is '{word[::-1]}'."


def _spell_word(rng: random.Random) -> Turn:
    word = rng.choice(WORDS)
    return (
        f"Spell the word '{word}' letter by letter.",
        f"{'-'.join(word.upper())}. The word '{word}' has {len(word)} letters.",
    )


def _count_letters(rng: random.Random) -> Turn:
    word = rng.choice(WORDS)
    return (
        f"How many letters are in the word '{word}'?",
        f"The word '{word}' has {len(word)} letters.",
    )


def _sort_numbers(rng: random.Random) -> Turn:
    numbers = [rng.randint(0, 99) for _ in range(rng.randint(3, 10))]
    descending = rng.random() < 0.3
    order = "descending" if descending else "ascending"
    result = sorted(numbers, reverse=descending)
    return (
        f"Sort these numbers in {order} order: {', '.join(map(str, numbers))}.",
        ", ".join(map(str, result)),
    )


def _sort_words(rng: random.Random) -> Turn:
    words = rng.sample(WORDS + FRUITS, rng.randint(3, 8))
    return (f"Sort these words alphabetically: {', '.join(words)}.", ", ".join(sorted(words)))


def _uppercase(rng: random.Random) -> Turn:
    words = rng.sample(WORDS, rng.randint(2, 5))
    text = " ".join(words)
    return f"Write this in capital letters: {text}", text.upper()


def _list_items(rng: random.Random) -> Turn:
    n = rng.randint(2, 6)
    category, pool = rng.choice(
        [("fruits", FRUITS), ("colors", COLORS), ("days of the week", DAYS), ("names", NAMES)]
    )
    items = rng.sample(pool, n)
    body = "\n".join(f"{i + 1}. {item}" for i, item in enumerate(items))
    return f"List {NUMBER_WORDS[n]} {category}.", f"Here are {NUMBER_WORDS[n]} {category}:\n{body}"


def _count_to(rng: random.Random) -> Turn:
    start = rng.randint(1, 50)
    stop = start + rng.randint(4, 15)
    return (
        f"Count from {start} to {stop}.",
        ", ".join(str(i) for i in range(start, stop + 1)) + ".",
    )


def _next_day(rng: random.Random) -> Turn:
    i = rng.randrange(7)
    shift = rng.randint(1, 6)
    return (
        f"What day comes {shift} day{'s' if shift > 1 else ''} after {DAYS[i]}?",
        f"{shift} day{'s' if shift > 1 else ''} after {DAYS[i]} is {DAYS[(i + shift) % 7]}.",
    )


def _even_odd(rng: random.Random) -> Turn:
    n = rng.randint(0, 999)
    parity = "even" if n % 2 == 0 else "odd"
    return f"Is {n} even or odd?", f"{n} is {parity}."


def _compare(rng: random.Random) -> Turn:
    a, b = rng.sample(range(1000), 2)
    return f"Which is larger, {a} or {b}?", f"{max(a, b)} is larger than {min(a, b)}."


def _story(rng: random.Random) -> Turn:
    name = rng.choice(NAMES)
    animal = rng.choice(ANIMALS)[0]
    color = rng.choice(COLORS)
    fruit = rng.choice(FRUITS)
    day = rng.choice(DAYS)
    country, capital, _, _ = rng.choice(COUNTRIES)
    sentences = [
        f"On a quiet {day} morning, {name} left home with a small {color} bag.",
        f"{name} was travelling to {capital}, the capital of {country}.",
        f"On the way, {name} met a friendly {animal} sitting by the road.",
        f"The {animal} looked hungry, so {name} shared a {fruit}.",
        "They walked together until the sun went down.",
        f"In {capital}, {name} found a warm room and a good meal.",
        f"The next day, the {animal} was waiting at the door.",
        f"The {animal} followed {name} to a market full of {fruit}s.",
        f"{name} bought a {color} hat and a map of {country}.",
        "At night they told stories about the old days and the long road.",
        f"From then on, {name} never travelled alone again.",
    ]
    n = rng.randint(4, len(sentences))
    return (f"Write a short story about {name} and a {animal}.", " ".join(sentences[:n]))


def _explain_steps(rng: random.Random) -> Turn:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    tens, ones = (a // 10 + b // 10) * 10, a % 10 + b % 10
    return (
        f"Explain how to add {a} and {b} in your head.",
        f"First add the tens: {a // 10 * 10} + {b // 10 * 10} = {tens}. "
        f"Then add the ones: {a % 10} + {b % 10} = {ones}. "
        f"Finally add both parts: {tens} + {ones} = {a + b}. So {a} + {b} = {a + b}.",
    )


SINGLE_TURN_TASKS: list[Callable[[random.Random], Turn]] = [
    _addition,
    _subtraction,
    _multiplication,
    _multiplication_table,
    _long_sum,
    _unit_conversion,
    _capital,
    _country_table,
    _animal,
    _reverse_word,
    _spell_word,
    _count_letters,
    _sort_numbers,
    _sort_words,
    _uppercase,
    _list_items,
    _count_to,
    _next_day,
    _even_odd,
    _compare,
    _story,
    _explain_steps,
]


# --- whole conversations -----------------------------------------------------------------


def _greeting_turn(rng: random.Random) -> Turn:
    name = rng.choice(NAMES)
    return (
        rng.choice([f"Hi, I am {name}.", f"Hello! My name is {name}.", f"Hey, {name} here."]),
        f"Hello {name}! How can I help you today?",
    )


def _single_turn(rng: random.Random) -> list[Turn]:
    user, assistant = rng.choice(SINGLE_TURN_TASKS)(rng)
    if len(assistant) < 40:
        # Very short answers get a friendly opener so that few samples fall below ~30 tokens.
        assistant = (
            rng.choice(["Sure. ", "Of course! ", "Here is the answer: ", "Let me see. "])
            + assistant
        )
    return [(user, assistant)]


def _multi_turn(rng: random.Random) -> list[Turn]:
    turns = [_greeting_turn(rng)] if rng.random() < 0.4 else []
    for _ in range(rng.randint(2, 6)):
        turns.append(rng.choice(SINGLE_TURN_TASKS)(rng))
    if rng.random() < 0.5:
        turns.append(
            (
                rng.choice(["Thanks!", "Thank you.", "Great, thanks."]),
                rng.choice(["You are welcome!", "Happy to help.", "Any time!"]),
            )
        )
    return turns


def _follow_up_capital(rng: random.Random) -> list[Turn]:
    country, capital, continent, language = rng.choice(COUNTRIES)
    return [
        (f"What is the capital of {country}?", f"The capital of {country} is {capital}."),
        ("And which continent is it in?", f"{capital} is in {continent}."),
        ("What language do people speak there?", f"People in {country} mostly speak {language}."),
    ]


def _follow_up_arithmetic(rng: random.Random) -> list[Turn]:
    a, b, c = rng.randint(1, 99), rng.randint(1, 99), rng.randint(2, 9)
    return [
        (f"What is {a} + {b}?", f"{a} + {b} = {a + b}."),
        (f"Now multiply that by {c}.", f"{a + b} * {c} = {(a + b) * c}."),
        (
            "Is the result even or odd?",
            f"{(a + b) * c} is {'even' if (a + b) * c % 2 == 0 else 'odd'}.",
        ),
    ]


CONVERSATIONS: list[tuple[float, Callable[[random.Random], list[Turn]]]] = [
    (0.40, _single_turn),
    (0.40, _multi_turn),
    (0.10, _follow_up_capital),
    (0.10, _follow_up_arithmetic),
]


def _conversation(rng: random.Random) -> dict[str, list[Message]]:
    weights = [w for w, _ in CONVERSATIONS]
    make_turns = rng.choices([f for _, f in CONVERSATIONS], weights=weights)[0]
    messages: list[Message] = []
    system_prompt = rng.random() < 0.3
    if system_prompt:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    for user, assistant in make_turns(rng):
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    if not system_prompt and sum(len(m["content"]) for m in messages) < 80:
        # Keeps the shortest samples near 30 tokens or more.
        messages.insert(0, {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    return {"messages": messages}


def generate_chat_samples(
    num_samples: int = NUM_SAMPLES, seed: int = DATA_SEED
) -> list[dict[str, list[Message]]]:
    """The demo chat records, identical for identical arguments."""
    rng = random.Random(seed)
    return [_conversation(rng) for _ in range(num_samples)]


def serialize_samples(samples: list[dict[str, list[Message]]]) -> bytes:
    """JSONL bytes of ``samples``: one compact record per line, keys in fixed order."""
    lines = (json.dumps(s, ensure_ascii=False, separators=(",", ":")) for s in samples)
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- tokenizer training corpus --------------------------------------------------------------

PROSE_NOUNS = """
time year people way day man woman child world life hand part eye place week case point
government company number group problem fact house water room mother father area money story
month lot right study book job word business issue side kind head service friend power hour
game line end member law car city community name president team minute idea kid body
information back parent face others level office door health person art war history party
result change morning reason research girl boy guy moment air teacher force education foot
age policy music market sense nation plan college interest death experience effect class
control care field development role effort rate heart drug show leader light voice wife police
mind price report decision son view relationship town road arm difference value building
action model season society tax director position player record paper space ground form event
official matter center couple site project activity star table need court oil situation cost
industry figure street image phone data picture practice piece land product doctor wall patient
worker news test movie north love support technology step baby computer type attention film
tree source organization hair window evidence population site truth garden island letter
kitchen bridge river mountain ocean forest desert village valley engine bottle bread cheese
farmer baker painter writer singer dancer soldier sailor pilot nurse lawyer student scientist
engineer musician driver farmer butcher carpenter gardener librarian manager neighbour stranger
butter honey salt sugar pepper soup rice potato carrot onion tomato cabbage lemon coffee tea
milk juice cake cookie sandwich breakfast lunch dinner supper kettle spoon fork knife plate
glass iron steel copper gold silver wood stone brick cotton wool leather plastic rubber sand
clay chalk candle lamp blanket pillow carpet curtain ladder hammer needle thread basket box
bag pocket coat shirt shoe boot hat glove scarf button ribbon umbrella wallet ticket stamp
envelope newspaper magazine journal diary calendar clock watch camera radio television
keyboard screen printer wire battery motor wheel sail anchor harbor station airport platform
tunnel tower castle palace temple church library museum theater stadium hospital factory
prison hotel restaurant bakery pharmacy school university classroom lesson homework exam
question answer mistake lesson example chapter sentence paragraph poem novel song melody rhythm
weather storm thunder lightning rain snow wind cloud fog sunshine rainbow autumn winter spring
summer dawn dusk midnight afternoon evening weekend holiday birthday wedding festival journey
adventure victory danger courage silence freedom justice knowledge memory dream promise secret
surprise treasure puzzle mystery""".split()
PROSE_VERBS = """
asked built called carried changed chose cleaned climbed closed collected cooked counted
covered crossed decided delivered described designed discovered discussed dropped earned
enjoyed entered escaped explained filled finished followed forgot found gathered grew guessed
handled heard helped hid imagined improved invited joined kept knocked learned left lifted
listened lost loved managed measured mentioned missed moved noticed offered opened ordered
organized painted passed picked planned played prepared promised protected pulled pushed
reached read received recorded remembered repaired replaced returned saved searched sent
shared showed signed sold solved spent started stopped studied suggested supported tested
thanked touched traded travelled tried turned understood used visited waited walked wanted
washed watched wished wondered worked wrote admired announced answered arranged attacked
borrowed breathed buried calculated celebrated checked compared complained connected considered
copied created damaged danced defended delayed destroyed developed divided doubted dressed
encouraged examined expected explored fetched fixed folded frightened hammered hoped hurried
ignored included increased informed inspected introduced jumped launched laughed limited
located married melted mixed multiplied obeyed observed obtained owned packed parked performed
permitted persuaded placed polished poured practised predicted preferred pretended printed
produced punished questioned raised realized recognized reduced refused rejected relaxed
released rescued reviewed rushed scattered scratched screamed selected separated served settled
shivered smiled sneezed sorted spelled squeezed stamped stared stirred stretched struggled
surprised surrounded suspected tasted taught terrified tickled tied trained transported trusted
twisted unlocked unpacked vanished wandered warned weighed welcomed whispered wrapped yawned
""".split()
PROSE_ADJECTIVES = """
able bad beautiful best better big black blue bright broken busy careful certain cheap clean
clear close cold common complete dark dead deep different difficult dry early easy empty
entire famous far fast fine free fresh friendly full funny general gentle golden good great
green happy hard heavy high honest hot huge important interesting kind large late light
little local long loud low lucky main modern narrow natural nervous new nice noisy normal old
open ordinary patient perfect plain polite poor popular possible powerful pretty private proud
public quick quiet rare ready real recent red rich rough round sad safe serious sharp short
simple slow small smart smooth soft special strange strong sudden sweet tall thick thin tiny
tired true useful warm weak wet whole wide wild wise wonderful wooden young
""".split()
PROSE_TAILS = [
    "before breakfast",
    "after a long day",
    "with great care",
    "in the evening",
    "because it was important",
    "while it was raining",
    "without any help",
    "for the first time",
    "during the summer",
    "as quickly as possible",
    "although nobody asked",
    "so that others could learn",
    "near the station",
    "at the end of the year",
    "under the old bridge",
    "on the other side of town",
]
PROSE_CONNECTORS = [
    "Then",
    "Later",
    "However,",
    "After that,",
    "In the end,",
    "Meanwhile,",
    "Surprisingly,",
    "Of course,",
    "Still,",
    "Because of this,",
    "Finally,",
    "At first,",
    "Unfortunately,",
    "For example,",
    "In fact,",
]


def _noun_phrase(rng: random.Random) -> str:
    return f"the {rng.choice(PROSE_ADJECTIVES)} {rng.choice(PROSE_NOUNS)}"


def generate_prose(num_paragraphs: int = 1500, seed: int = DATA_SEED) -> Iterator[str]:
    """Generic English paragraphs that widen the tokenizer's vocabulary beyond the chat data."""
    rng = random.Random(seed + 1)
    for _ in range(num_paragraphs):
        sentences = []
        for i in range(rng.randint(3, 7)):
            lead = f"{rng.choice(PROSE_CONNECTORS)} " if i else ""
            subject = _noun_phrase(rng)
            sentence = (
                f"{lead}{subject} {rng.choice(PROSE_VERBS)} {_noun_phrase(rng)} "
                f"{rng.choice(PROSE_TAILS)}."
            )
            sentences.append(sentence[0].upper() + sentence[1:])
        yield " ".join(sentences)


def _render_chat(sample: dict[str, list[Message]]) -> str:
    return "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in sample["messages"])


# --- files -----------------------------------------------------------------------------------


def _train_tokenizer(samples: list[dict[str, list[Message]]], out_dir: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [_render_chat(s) for s in samples] + list(generate_prose())
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    tokenizer.save(str(out_dir / "tokenizer.json"))

    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        "additional_special_tokens": [IM_START, IM_END],
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1024,
        "chat_template": CHAT_TEMPLATE,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    special_tokens_map = {
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
        "additional_special_tokens": [IM_START, IM_END],
    }
    (out_dir / "special_tokens_map.json").write_text(
        json.dumps(special_tokens_map, indent=2) + "\n"
    )
    return int(tokenizer.get_vocab_size())


def model_config(vocab_size: int, eos_token_id: int, pad_token_id: int) -> dict[str, object]:
    """A Llama-shaped config of about 7.4M parameters (weights are built at run time)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": 256,
        "intermediate_size": 688,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "head_dim": 32,
        "hidden_act": "silu",
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
        "use_cache": False,
        "bos_token_id": None,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
    }


def _token_stats(out_dir: Path, samples: list[dict[str, list[Message]]]) -> dict[str, int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    lengths = [len(e.ids) for e in tokenizer.encode_batch([_render_chat(s) for s in samples])]
    return {
        "num_samples": len(lengths),
        "total_tokens": sum(lengths),
        "min_tokens": min(lengths),
        "max_tokens": max(lengths),
        "mean_tokens": round(sum(lengths) / len(lengths)),
    }


def build_all(out_dir: Path = DEMO_DIR) -> dict[str, int]:
    """Write chat.jsonl, the tokenizer files, config.json and stats.json into ``out_dir``."""
    samples = generate_chat_samples()
    (out_dir / "chat.jsonl").write_bytes(serialize_samples(samples))
    vocab_size = _train_tokenizer(samples, out_dir)

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    eos_id, pad_id = tokenizer.token_to_id(IM_END), tokenizer.token_to_id(ENDOFTEXT)
    assert eos_id is not None and pad_id is not None, "special tokens missing from the vocab"
    config = model_config(vocab_size, eos_id, pad_id)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    stats = _token_stats(out_dir, samples)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def main() -> None:
    """Regenerate the demo assets in the package folder and print their token statistics."""
    print(json.dumps(build_all(), indent=2))


if __name__ == "__main__":
    main()
