"""A small deterministic prompt/completion dataset with learnable structure, for tests, benchmarks and
the demo: a tiny model from random weights can visibly learn it in a couple of hundred CPU steps."""

from __future__ import annotations

import json
import random

CAPITALS = {
    "France": "Paris",
    "Peru": "Lima",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Norway": "Oslo",
    "Chile": "Santiago",
    "India": "New Delhi",
    "Spain": "Madrid",
}
COLOURS = ["red", "blue", "green", "yellow", "black", "white"]
ANIMALS = ["fox", "cat", "dog", "owl", "horse", "whale"]


def sample_rows(count: int = 400, *, seed: int = 7) -> list[dict[str, str]]:
    """`count` rows cycling through four templates (capitals, descriptions, addition, reversal)."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        kind = index % 4
        if kind == 0:
            country = rng.choice(list(CAPITALS))
            rows.append(
                {
                    "prompt": f"What is the capital of {country}?",
                    "completion": f" The capital of {country} is {CAPITALS[country]}.",
                }
            )
        elif kind == 1:
            colour, animal = rng.choice(COLOURS), rng.choice(ANIMALS)
            rows.append(
                {
                    "prompt": f"Describe a {colour} {animal}.",
                    "completion": f" The {animal} is {colour} and it is a happy {animal}.",
                }
            )
        elif kind == 2:
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            rows.append({"prompt": f"What is {a} plus {b}?", "completion": f" {a} plus {b} is {a + b}."})
        else:
            word = rng.choice(ANIMALS + COLOURS)
            rows.append({"prompt": f"Reverse the word {word}.", "completion": f" {word[::-1]}"})
    return rows


def sample_jsonl(count: int = 400, *, seed: int = 7) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in sample_rows(count, seed=seed)).encode()
