"""The phone inventory of the synthetic voices, and how a syllable is drawn from it.

:data:`PHONES` holds vowels with formant targets, nasals, fricative noise
bands, plosive closures and bursts, and silence.  A syllable
(:func:`draw_syllable`) is an optional onset of one or two consonants, a
vowel, and an optional coda consonant; consonants are weighted by class
(:func:`pick_consonant`).  The independent-syllable corpus draws a new
syllable each time (:mod:`.voice`); the language draws its words' fixed
pronunciations from the same distribution (:mod:`.language`).

>>> draw_syllable(np.random.default_rng(0))
('SH', 'M', 'IY')
>>> sum(PHONES[u].phone_class == "vowel" for u in draw_syllable(np.random.default_rng(1)))
1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..corpus import PHONE_CLASSES

__all__ = ["Phone", "PHONES", "VOWELS", "CONSONANTS", "pick_consonant", "draw_syllable"]


@dataclass(frozen=True)
class Phone:
    """A phone-like unit: its class, articulation targets and typical duration.

    ``formants`` are F1-F3 targets (Hz, for a 17 cm vocal tract) for vowels
    and nasals, and the formant *loci* that neighbouring vowels move towards
    for obstruents.  ``noise_hz``/``noise_bw_hz`` place the frication or burst
    noise band; ``zero_hz`` is the anti-resonance of a nasal.
    """

    phone_class: str
    formants: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
    voiced: bool = True
    duration_ms: float = 80.0
    amplitude: float = 1.0  # relative source level
    noise_hz: float = 0.0
    noise_bw_hz: float = 0.0
    zero_hz: float = 0.0


# Vowel targets follow Peterson & Barney (1952) adult male averages.  Nasals have a low murmur
# formant plus an anti-resonance set by the place; fricatives a noise band (voiced ones add a weaker
# voice source; HH has none: it is aspiration through the vowel's tract); plosives a closure, then
# a burst in the place's noise band.  Voiced obstruents share the loci and noise of their voiceless
# partners.
_INVENTORY = (
    # symbol, class, F1-F3 (Hz), voiced, duration (ms), amplitude, noise (Hz), noise bandwidth (Hz), zero (Hz)
    ("IY", "vowel", (270, 2290, 3010), True, 95, 1.0, 0.0, 0.0, 0.0),
    ("IH", "vowel", (390, 1990, 2550), True, 75, 1.0, 0.0, 0.0, 0.0),
    ("EH", "vowel", (530, 1840, 2480), True, 80, 1.0, 0.0, 0.0, 0.0),
    ("AE", "vowel", (660, 1720, 2410), True, 110, 1.0, 0.0, 0.0, 0.0),
    ("AA", "vowel", (730, 1090, 2440), True, 110, 1.0, 0.0, 0.0, 0.0),
    ("AO", "vowel", (570, 840, 2410), True, 105, 1.0, 0.0, 0.0, 0.0),
    ("UH", "vowel", (440, 1020, 2240), True, 75, 1.0, 0.0, 0.0, 0.0),
    ("UW", "vowel", (300, 870, 2240), True, 95, 1.0, 0.0, 0.0, 0.0),
    ("AH", "vowel", (640, 1190, 2390), True, 70, 1.0, 0.0, 0.0, 0.0),
    ("ER", "vowel", (490, 1350, 1690), True, 100, 1.0, 0.0, 0.0, 0.0),
    ("M", "nasal", (250, 1100, 2200), True, 65, 0.45, 0.0, 0.0, 1000),
    ("N", "nasal", (250, 1500, 2500), True, 60, 0.45, 0.0, 0.0, 1800),
    ("NG", "nasal", (250, 2000, 2700), True, 70, 0.4, 0.0, 0.0, 3000),
    ("S", "fricative", (350, 1700, 2600), False, 100, 0.35, 6000, 1500, 0.0),
    ("Z", "fricative", (350, 1700, 2600), True, 80, 0.25, 6000, 1500, 0.0),
    ("SH", "fricative", (350, 1900, 2500), False, 105, 0.35, 3200, 1000, 0.0),
    ("ZH", "fricative", (350, 1900, 2500), True, 80, 0.25, 3200, 1000, 0.0),
    ("F", "fricative", (350, 900, 2300), False, 95, 0.12, 5000, 4000, 0.0),
    ("V", "fricative", (350, 900, 2300), True, 70, 0.1, 5000, 4000, 0.0),
    ("TH", "fricative", (350, 1400, 2600), False, 90, 0.1, 6500, 3500, 0.0),
    ("HH", "fricative", (500, 1500, 2500), False, 65, 0.2, 0.0, 0.0, 0.0),
    ("P", "plosive", (300, 900, 2200), False, 85, 0.5, 1000, 2500, 0.0),
    ("B", "plosive", (300, 900, 2200), True, 70, 0.4, 1000, 2500, 0.0),
    ("T", "plosive", (300, 1700, 2600), False, 85, 0.6, 4500, 2000, 0.0),
    ("D", "plosive", (300, 1700, 2600), True, 70, 0.45, 4500, 2000, 0.0),
    ("K", "plosive", (300, 2100, 2500), False, 90, 0.55, 2200, 900, 0.0),
    ("G", "plosive", (300, 2100, 2500), True, 75, 0.45, 2200, 900, 0.0),
    ("SIL", "silence", (500.0, 1500.0, 2500.0), True, 200, 0.0, 0.0, 0.0, 0.0),
)
PHONES: dict[str, Phone] = {symbol: Phone(*spec) for symbol, *spec in _INVENTORY}
VOWELS: tuple[str, ...] = tuple(p for p, s in PHONES.items() if s.phone_class == "vowel")
CONSONANTS: tuple[str, ...] = tuple(p for p, s in PHONES.items() if s.phone_class in ("nasal", "fricative", "plosive"))
assert all(s.phone_class in PHONE_CLASSES for s in PHONES.values())


def pick_consonant(rng: np.random.Generator) -> str:
    weights = {"nasal": 1.0, "fricative": 1.4, "plosive": 1.6}
    w = np.array([weights[PHONES[c].phone_class] for c in CONSONANTS])
    return str(CONSONANTS[rng.choice(len(CONSONANTS), p=w / w.sum())])


def draw_syllable(rng: np.random.Generator) -> tuple[str, ...]:
    """One syllable: 0-2 onset consonants (1 most often), a vowel, 0-1 coda consonant."""
    onset = int(rng.choice([0, 1, 1, 1, 2]))
    coda = int(rng.choice([0, 0, 1]))
    units = [pick_consonant(rng) for _ in range(onset)]
    units.append(str(VOWELS[rng.integers(len(VOWELS))]))
    units += [pick_consonant(rng) for _ in range(coda)]
    return tuple(units)
