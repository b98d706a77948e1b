"""cp1252 or cp874 (spec §1.2): a corpus of realistic Western and Thai exports.

Accented letters that stand next to each other ("Größe", "Grüße") made the old byte-pair
heuristic read German as Thai; the choice now rests on the words themselves
(loader/parse/script.py) after the bytes each code page can decode. Every file of the
corpus must come back in its own code page with every value as written.
"""

from __future__ import annotations

import gzip
import random

import pytest

from loader.parse.script import Evidence, thai_spelled, western_spelled
from tests.conftest import HEADER, parse, rows_of

GERMAN = [
    "Größe",
    "Grüße aus München",
    "Müller Vermögensverwaltung",
    "Ausschüttung je Anteil",
    "Fondsvermögen in Mio. €",
    "Rücknahmepreis",
    "Zürich Invest Aktien Schweiz",
    "Düsseldorfer Straße 12",
    "Erträge aus Anleihen",
    "Währungsgesicherte Tranche",
    "Nachhaltigkeitsprüfung",
    "Ölpreisabhängige Anlagen",
    "Übertragbare Wertpapiere",
    "Laufzeitverlängerung",
    "Gebührenänderung ab 1. März",
    "Außerordentliche Erträge",
]
FRENCH = [
    "Société Générale Gestion",
    "Crédit Agricole Épargne",
    "Actions européennes",
    "Obligations à court terme",
    "Caisse des Dépôts",
    "Trésorerie en euros",
    "Rendement cumulé",
    "Frais de gestion réels",
    "Sécurité Patrimoine",
    "Créances privées",
    "Fonds commun de placement",
    "Indice de référence",
    "Dividende réinvesti",
    "L'Oréal",
    "Château de Fontainebleau",
    "Marque™® déposée",
    "Œuvre d'art",
    "Hôtellerie",
]
NORDIC = [
    "Ålandsbanken Sjöfart",
    "Förvaltningsavgift",
    "Handelsbanken Aktiefond Sverige",
    "Københavns Kommune",
    "Ærø Sparekasse",
    "Øresund Ejendomme",
    "Tromsø Børs",
    "Jyske Invest Højrentelande",
    "Fondsforvaltning Bergen",
    "Skagen Kon-Tiki",
    "Länsförsäkringar Global",
    "Pohjoismaiset osakkeet",
    "Säästöpankki Kotimaa",
    "Kehittyvät markkinat",
    "Nordea Fonder Räntefond",
    "Göteborgs Hamn",
]
IBERIAN = [
    "Señor Gestión",
    "Ações Brasileiras",
    "Previdência Privada",
    "Inversión en España",
    "Renta Fija Corto Plazo",
    "Banco Santander Acción",
    "Gestão de Ativos",
]
THAI = [
    "กองทุนเปิดไทยพาณิชย์",
    "หุ้นระยะยาว",
    "ตราสารหนี้ภาครัฐ",
    "บริษัทหลักทรัพย์จัดการกองทุน",
    "มูลค่าหน่วยลงทุน",
    "สินทรัพย์สุทธิ",
    "ธนาคารกรุงเทพ",
    "กสิกรไทย",
    "เงินปันผล",
    "ผลตอบแทนย้อนหลัง",
    "ค่าธรรมเนียมการจัดการ",
    "กองทุนรวมเพื่อการเลี้ยงชีพ",
    "บัวหลวงธนทวี",
    "ทิสโก้",
    "กรุงศรี",
    "ตลาดหลักทรัพย์แห่งประเทศไทย",
    "พันธุ์ไทย",
    "น้ำมันและก๊าซ",
    "ที่ดินและอาคาร",
    "ความเสี่ยงระดับ ๖",
    "ราคา ฿ ๑๒.๕๐",
]
CORPUS = {
    "german": (GERMAN, "cp1252"),
    "french": (FRENCH, "cp1252"),
    "nordic": (NORDIC, "cp1252"),
    "iberian": (IBERIAN, "cp1252"),
    "thai": (THAI, "cp874"),
}


def export(words: list[str], rows: int, seed: int, encoding: str) -> tuple[bytes, list[str]]:
    """A fund-data export of ``rows`` rows whose text values come from ``words``, mixed with
    numbers, codes and digits as real exports are."""
    rng = random.Random(seed)
    lines, texts = [HEADER], []
    for i in range(rows):
        stock = f"F{i // 20:05d}"
        code = ("NAME", "MANAGER", "CATEGORY", "NOTE", "NAV")[i % 5]
        if code == "NAV":
            value = f"{rng.randint(1, 99999)}.{rng.randint(0, 9999):04d}"
        else:
            value = rng.choice(words)
            if rng.random() < 0.3:
                value = f"{value} {rng.randint(1, 2030)}"
            texts.append(value)
        quoted = f'"{value}"' if "," in value else value
        lines.append(f"2025-12-09,{stock},{stock}-A,{code}{i},{quoted}")
    return ("\n".join(lines) + "\n").encode(encoding), texts


@pytest.mark.parametrize("rows", [1, 5, 40, 200, 2000])
@pytest.mark.parametrize("language", sorted(CORPUS))
def test_every_file_of_the_corpus_is_read_in_its_own_code_page(language, rows):
    words, encoding = CORPUS[language]
    for seed in range(4):
        data, texts = export(words, rows, seed, encoding)
        if data.isascii():
            continue
        result = parse(data)
        assert result.encoding == encoding, (language, rows, seed, result.encoding_detected_by)
        stored = [r[5] for r in rows_of(result) if r[5] is not None]
        assert stored == texts


@pytest.mark.parametrize(
    "word", ["Größe", "Grüße", "Marque™®", "Straße", "Öl", "Ærø", "Citroën", "Ações", "naïve"]
)
def test_one_western_word_alone_is_cp1252(word):
    data = f"{HEADER}\n2025-12-09,S,T,C,{word}\n".encode("cp1252")
    result = parse(data)
    assert result.encoding == "cp1252"
    assert rows_of(result)[0][5] == word


def test_a_normal_german_file_of_200_rows_is_cp1252_even_gzipped():
    data, texts = export(GERMAN, 200, 7, "cp1252")
    result = parse(gzip.compress(data))
    assert result.encoding == "cp1252"
    assert [r[5] for r in rows_of(result) if r[5] is not None] == texts


def test_thai_beside_latin_letters_and_digits_is_cp874():
    values = ["SCBรุ่นใหม่", "KTAM หุ้นไทย 2568", "กองทุน K-EQUITY", "ราคา100บาท", "หุ้น10%"]
    data = HEADER + "\n" + "".join(f"2025-12-09,S,T,C{i},{v}\n" for i, v in enumerate(values))
    result = parse(data.encode("cp874"))
    assert result.encoding == "cp874"
    assert [r[5] for r in rows_of(result)] == values


def test_quotes_and_dashes_alone_decode_the_same_in_both_and_load_as_written():
    value = "“Growth” fund – class A … €"
    result = parse(f"{HEADER}\n2025-12-09,S,T,C,{value}\n".encode("cp1252"))
    assert result.encoding in ("cp1252", "cp874")
    assert rows_of(result)[0][5] == value


@pytest.mark.parametrize(
    ("word", "thai"),
    [("ที่ดิน", True), ("พันธุ์", True), ("น้ำ", True), ("เงิน", True), ("ก็", True),
     ("เ", False), ("ะา", False), ("่ก", False), ("๖฿", False)],
)  # fmt: skip
def test_thai_spelling_rules(word, thai):
    assert thai_spelled(word) is thai


@pytest.mark.parametrize(
    ("word", "western"),
    [("Größe", True), ("ÖSTERREICH", True), ("café", True), ("àÃÒ", False), ("Ê´Õ", False)],
)
def test_western_spelling_rules(word, western):
    assert western_spelled(word) is western


def test_the_evidence_is_of_words_not_byte_pairs():
    evidence = Evidence()
    evidence.add("Größe Grüße Düsseldorfer Straße".encode("cp1252"))
    assert evidence.western > 0 and evidence.thai == 0
    thai = Evidence()
    thai.add("กองทุนเปิด ตราสารหนี้".encode("cp874"))
    assert thai.thai > 0 and thai.western == 0
