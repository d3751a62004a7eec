"""Friendly default run names (``brisk-heron-417``)."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber bold brisk calm clever crisp dapper eager fair gentle glad grand hardy honest jolly "
    "keen lively lucid merry mellow nimble noble plucky polite proud quick quiet rapid serene "
    "sharp shiny silent smart snappy steady sunny swift tidy upbeat vivid warm wise witty"
).split()
_NOUNS = (
    "badger bat bear beaver bison crane deer dove eagle falcon ferret finch fox gecko hare "
    "hawk heron ibis jay koala lark lemur lynx marten mink moose newt otter owl panda puffin "
    "quail raven robin seal shrew stork swan tapir trout vole wolf wren yak"
).split()


def run_name() -> str:
    """Return a random, readable run name."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(1000)}"
