#!/usr/bin/env python3
"""Write fixtures.json: the candidate sets that check_diversity scores.

Hand-written sets first (edge cases of the tokeniser and of each measure,
poems, stories, short answers), then a few long sets built from a fixed
word list with a seeded random.Random, so that the file is reproducible
with any Python 3 and no third-party module.

Characters whose Python lower() is ASCII (U+0130, U+212A) are left out on
purpose: tokens.c does not fold them (see docs/diversity.md).
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

STORIES = [
    "The bear woke early that spring, long before the snow had left the "
    "ridge. Hunger pulled her down the slope toward the river, where the "
    "ice groaned and cracked in the thin morning light. She had two cubs "
    "behind her, clumsy and loud, tumbling over roots and each other. At "
    "the water's edge she stopped. Something was wrong: the smell of smoke "
    "drifted from the valley, sharp and unfamiliar. She lifted her nose, "
    "read the wind, and turned east instead, toward the old cedar stand "
    "her mother had shown her years ago. The cubs complained, but they "
    "followed. By noon they had found the cedars, and beneath them a "
    "hollow full of last year's nuts, dry and sweet. The bear ate slowly. "
    "Far below, the valley burned for three days. When the rain finally "
    "came, she led her cubs back down to the river, and the fish were "
    "already running.",
    "Nobody in the village believed Mara when she said the bear could talk. "
    "It only spoke on Tuesdays, she explained, and only about the weather. "
    "\"Clouds from the west by evening,\" it would say, scratching its back "
    "against the bakery wall, and sure enough, by evening the clouds came. "
    "The baker started leaving out bread. The mayor called a meeting. A "
    "man from the city arrived with a notebook and a camera, and waited "
    "all of Tuesday in the square, but the bear said nothing at all. It "
    "ate the bread, looked at the man for a long time, and walked back "
    "into the woods. The man left on Wednesday, shaking his head. That "
    "night Mara heard a low voice under her window. \"Snow tomorrow,\" it "
    "said, \"and I don't like cameras.\" In the morning the whole village "
    "woke to snow, and nobody doubted her again.",
    "In the museum of natural history there is a stuffed bear on the "
    "third floor, standing on its hind legs with its mouth half open, as "
    "if it had been about to say something important when the "
    "taxidermist interrupted. Children press their faces to the glass. "
    "The guards have names for it; the night guard calls it Walter and "
    "tells it about his divorce. Walter listens. Walter has been "
    "listening since 1911, to school groups and lovers and a man who "
    "came every Sunday for twenty years and then stopped coming. The "
    "label says the bear was shot in Montana by a hunter whose name is "
    "misspelled. It does not say what the bear was doing when the shot "
    "came, whether it was eating berries or watching the sun go down. "
    "The guards think about that sometimes, late at night, walking past "
    "the glass with their flashlights.",
    "Teddy had been in the attic for thirty-one years when the box was "
    "finally opened. Light came in all at once, and a pair of hands, "
    "older than he remembered but the same hands, lifted him out. One ear "
    "was gone, chewed off by a dog called Biscuit in 1992. His button "
    "eyes were scratched. The hands turned him over, brushed the dust "
    "from his belly, and held him against a chest that smelled of coffee "
    "and rain. \"I forgot about you,\" said the voice, which had been "
    "small and high the last time he heard it and was now low and "
    "tired. Teddy did not mind. Bears like him are made for waiting. "
    "Downstairs a child was crying about something, a scraped knee or a "
    "lost game, and the hands carried him down the stairs, one step at "
    "a time, into the warm kitchen, and set him in small arms.",
    "The polar bear had never seen a city before. It came off the ice "
    "floe where the harbor met the sea, dripping and enormous, and stood "
    "under the yellow street lamps while the fishermen backed slowly "
    "into their sheds. It was thin. The ice had gone early that year, "
    "and the seals had gone with it, and the bear had swum for nine "
    "days following a smell of fish and diesel. Someone called the "
    "wildlife office. Someone else filmed it on a phone. The bear "
    "walked down the main street past the closed bank and the pharmacy, "
    "knocked over three bins, and ate a crate of frozen cod behind the "
    "cannery. Then it lay down in the snow by the church and slept. In "
    "the morning a helicopter came, and a vet with a dart gun, and the "
    "bear was flown two hundred miles north to where the ice still held.",
]

POEMS = [
    "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
    "The old pond,\na frog jumps in:\nsound of water.\n",
    "Over the wintry\nforest, winds howl in rage\nwith no leaves to blow.",
    "roses are red\n\tviolets are blue\nsugar is sweet\n\tand so are you",
    "Light of the moon\nmoves west, flowers' shadows\ncreep eastward.\n\n",
]

JOKES = [
    "Why did the scarecrow win an award? Because he was outstanding in "
    "his field.",
    "I told my wife she was drawing her eyebrows too high. She looked "
    "surprised.",
    "Why don't skeletons fight each other? They don't have the guts.",
    "What do you call a fake noodle? An impasta.",
    "Why did the bicycle fall over? Because it was two tired.",
    "I used to play piano by ear, but now I use my hands.",
    "Why don't eggs tell jokes? They'd crack each other up.",
    "What do you call cheese that isn't yours? Nacho cheese.",
    "Why did the math book look sad? Because it had too many problems.",
    "I'm reading a book about anti-gravity. It's impossible to put down.",
]

STATES = [
    "California", "Texas", "Vermont", "Wyoming", "New Mexico",
    "North Dakota", "Hawaii", "Alaska", "Maine", "Oregon", "Ohio",
    "New York", "Rhode Island", "West Virginia", "Montana", "Idaho",
    "Nevada", "Utah", "Kansas", "South Carolina",
]

HAND = [
    ("hand_simple", ["a b c", "a b d", "x y z"]),
    ("case_punct", ["Hello, World!", "hello world", "HELLO... world?!"]),
    ("digits", ["Route 66 and I-95", "route66 and i 95", "3.14159 is pi",
                "2024-01-01T00:00:00Z"]),
    ("unicode", ["Café au lait", "naïve résumé über alles",
                 "日本語のテキスト and some English",
                 "emoji 😀 smile 😀 again", "Straße STRASSE strasse",
                 "ΣΊΣΥΦΟΣ rolls the stone", "ﬁne ﬂowers fine flowers"]),
    ("empty_all", ["", "", ""]),
    ("empty_some", ["", "one two three", "   ", "one two"]),
    ("punct_only", ["!!!", "... --- ...", "\u2014 \u00bf?"]),
    ("cjk_emoji_only", ["😀😀", "日本", "Ωμέγα"]),
    ("single", ["just one candidate here, nothing to compare"]),
    ("single_empty", [""]),
    ("none", []),
    ("repeated", ["la la la la", "la la la", "la"]),
    ("identical", ["The quick brown fox jumps over the lazy dog."] * 4),
    ("bigrams_only", ["a b", "b a", "a"]),
    ("contractions", ["don't stop", "dont stop", "Don\u2019t stop",
                      "do not stop"]),
    ("hyphens", ["state-of-the-art", "state of the art",
                 "state_of_the_art", "State Of The Art!"]),
    ("whitespace", ["\t\ttabs\nand\r\nnewlines  ", "tabs and newlines",
                    "  tabs   and\n\n\nnewlines\t"]),
    ("alnum", ["abc123def", "ABC123DEF", "abc 123 def", "123abc def456"]),
    ("markup", ["**bold** _it_ `code` [link](http://x.y/z?a=1&b=2)",
                "<p>bold it code</p>", "bold it code link x y z a 1 b 2"]),
    ("jsonish", ['{"text": "hi there", "probability": 0.5}',
                 '{"responses":[{"text":"hi there","probability":0.25}]}',
                 "<response><text>hi there</text>"
                 "<probability>0.25</probability></response>"]),
    ("reversed_numbers", [" ".join(str(i) for i in range(1, 11)),
                          " ".join(str(i) for i in range(10, 0, -1))]),
    ("shuffled", ["the cat sat on the mat", "on the mat the cat sat",
                  "sat the cat on the mat", "mat the on sat cat the"]),
    ("dialogue", [
        "Sure, I can help with that. What time works for you?",
        "Of course! When would you like to meet?",
        "I'd be happy to help. Does Tuesday at 3 work?",
        "No problem at all. Tell me a time and I'll be there.",
        "Absolutely. I'm free tomorrow morning, how about 9?",
        "Happy to help! What time works best for you?",
    ]),
    ("slogans", [
        "Think different.", "Just do it.", "Because you're worth it.",
        "I'm lovin' it.", "Think outside the bun.", "Just think.",
        "Do it different.", "Worth it, every time.",
    ]),
    ("poems", POEMS),
    ("jokes_k10", JOKES),
    ("states_k20", STATES),
    ("stories_k2", STORIES[:2]),
    ("stories_k5", STORIES),
    ("stories_plus_empty", STORIES[2:] + ["", "?"]),
]

WORDS = (
    "the a an of to and in on at for with from by about over under after "
    "before night morning river city house garden road window light dark "
    "old new small large quiet loud cold warm green blue red golden silver "
    "bear fox bird dog cat child woman man stranger king queen sailor "
    "farmer baker teacher walked ran found lost carried opened closed saw "
    "heard remembered forgot wanted waited sang whispered laughed cried "
    "built broke held left kept moved turned slowly quickly never always "
    "again still almost only once every long short last first seven three "
    "2024 1911 42 door letter key boat bridge tree stone snow rain wind "
    "fire water bread song dream story secret map clock mirror"
).split()

PUNCT = [".", ".", ".", ",", ",", "!", "?", ";", " \u2014", ":"]


def sentence(rng, vocab):
    n = rng.randint(5, 16)
    words = [rng.choice(vocab) for _ in range(n)]
    words[0] = words[0].capitalize()
    out = []
    for i, w in enumerate(words):
        out.append(w)
        if i + 1 < n and rng.random() < 0.08:
            out[-1] += ","
    return " ".join(out) + rng.choice(PUNCT)


def text(rng, vocab, nwords, pool=None):
    parts, count = [], 0
    while count < nwords:
        if pool and rng.random() < 0.4:
            s = rng.choice(pool)
        else:
            s = sentence(rng, vocab)
        parts.append(s)
        count += len(s.split())
    sep = "\n" if rng.random() < 0.3 else " "
    return sep.join(parts)


def synthetic(name, seed, k, nwords, vocab_size=None, pool_size=0):
    rng = random.Random(seed)
    vocab = WORDS if vocab_size is None else WORDS[:vocab_size]
    pool = [sentence(rng, vocab) for _ in range(pool_size)]
    return (name, [text(rng, vocab, nwords, pool) for _ in range(k)])


def counted(name, n):
    """A set whose texts have exactly n, n+1 and n-1 tokens."""
    return (name, [" ".join("w%d" % (i % 37) for i in range(m))
                   for m in (n, n + 1, n - 1)])


SYNTH = [
    synthetic("synth_k5_150w", 1, 5, 150, pool_size=6),
    synthetic("synth_k20_150w", 2, 20, 150, pool_size=10),
    synthetic("synth_k15_150w", 3, 15, 150),
    synthetic("synth_k20_small_vocab", 4, 20, 60, vocab_size=12),
    synthetic("synth_k3_1500w", 5, 3, 1500, pool_size=20),
    synthetic("synth_k2_3000w", 6, 2, 3000, vocab_size=40, pool_size=30),
    synthetic("synth_k8_varied", 7, 8, 40, pool_size=3),
    counted("boundary_64", 64),
    counted("boundary_128", 128),
    counted("boundary_1024", 1024),
    counted("boundary_2049", 2049),
]


def main():
    sets = [{"name": n, "texts": t} for n, t in HAND + SYNTH]
    with open(os.path.join(HERE, "fixtures.json"), "w",
              encoding="utf-8") as f:
        json.dump(sets, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
