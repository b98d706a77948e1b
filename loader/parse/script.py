"""Thai or Western: the evidence of the words themselves, read in both code pages (spec §1.2).

cp874 and cp1252 each decode almost every high byte, so a strict decode alone rarely
chooses. What differs is what the words become. A file's words (runs of letters with at
least one high byte) are read both ways:

- read as cp874, a word is **Thai** when it is spelled as Thai is written: it holds a
  consonant and no Latin letter, a leading vowel (เ แ โ ใ ไ) stands before a consonant,
  a vowel written above or below the line sits on a consonant, and a tone mark (or the
  silencer ์) sits on a consonant or on such a vowel;
- read as cp1252, a word is **Western** when every character is a letter and its case
  reads as a word's does: all lower case, all capitals, or a capital then lower case.

Western text read as cp874 breaks the Thai rules at once ("é" after a Latin letter is a
tone mark on nothing, "ö" a Thai digit, "à" a leading vowel before a Latin letter), and
Thai read as cp1252 is symbols (¹ § ¶) and case changing mid-word ("àÃÒ"). A word both
readings accept (a lone "É" is the consonant ษ) counts for neither. Letters of the script,
not byte pairs: "Größe", a German file of 200 rows or "Marque™®" are never Thai.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(rb"[A-Za-z\xa1-\xff]*[\xa1-\xff][A-Za-z\xa1-\xff]*")
"""A word with at least one high byte: letters of either reading, bounded by anything else
(digits, spaces, delimiters, punctuation; 0x80-0xA0 are punctuation or undefined in one of
the two code pages, and undefined bytes are settled by decoding)."""
LATIN_LETTER = re.compile(rb"[A-Za-z]")

CONSONANTS = frozenset(chr(c) for c in range(0x0E01, 0x0E2F))
"""ก .. ฮ (with ฤ and ฦ, which behave as consonants)."""
LEADING_VOWELS = frozenset("เแโใไ")
FOLLOWING_VOWELS = frozenset("ะาำๅ")
ON_CONSONANT = frozenset(chr(c) for c in (0x0E31, *range(0x0E34, 0x0E3B), 0x0E47, 0x0E4D, 0x0E4E))
"""Vowels above or below the line (and maitaikhu, nikhahit, yamakkan): on a consonant."""
TONE_MARKS = frozenset(chr(c) for c in range(0x0E48, 0x0E4D))
"""The four tone marks and thanthakhat: on a consonant, or on a vowel that is on one."""

DECIDED_AT = 400
"""Evidence (letters) after which one side's lead of 20 to 1 ends the count early."""


def thai_spelled(word: str) -> bool:
    """Whether ``word`` (as decoded from cp874) is spelled as Thai is written."""
    if not any(c in CONSONANTS for c in word):
        return False
    last = len(word) - 1
    for i, c in enumerate(word):
        before = word[i - 1] if i else ""
        if c in LEADING_VOWELS:
            if i == last or word[i + 1] not in CONSONANTS:
                return False
        elif c in ON_CONSONANT:
            if before not in CONSONANTS:
                return False
        elif c in TONE_MARKS:
            on_vowel = before in ON_CONSONANT and i >= 2 and word[i - 2] in CONSONANTS
            if before not in CONSONANTS and not on_vowel:
                return False
        elif c in FOLLOWING_VOWELS and i == 0:
            return False
    return True


def western_spelled(word: str) -> bool:
    """Whether ``word`` (as decoded from cp1252) reads as a Western word: letters only, cased
    as words are (lower, CAPITALS, or Capitalised)."""
    if not word.isalpha():
        return False
    return word.islower() or word.isupper() or (word[0].isupper() and word[1:].islower())


@dataclass
class Evidence:
    """Letters in words only a Thai reading accepts, and in words only a Western one does."""

    thai: int = 0
    western: int = 0

    @property
    def decided(self) -> bool:
        big, small = max(self.thai, self.western), min(self.thai, self.western)
        return big >= DECIDED_AT and small * 20 <= big

    def add(self, sample: bytes, thai_codec: str = "cp874", latin_codec: str = "cp1252") -> None:
        """Weigh the words of ``sample`` (stops early once the answer is clear)."""
        for match in WORD.finditer(sample):
            raw = match.group()
            try:
                as_thai = raw.decode(thai_codec)
                thai = not LATIN_LETTER.search(raw) and thai_spelled(as_thai)
            except UnicodeDecodeError:
                thai = False
            try:
                western = western_spelled(raw.decode(latin_codec))
            except UnicodeDecodeError:
                western = False
            if thai and not western:
                self.thai += len(raw)
            elif western and not thai:
                self.western += sum(b >= 0x80 for b in raw)
            if self.decided:
                return
