"""Retrieval quality of the default (offline hashing + BM25) memory on a small labelled set.

30 notes an assistant might be told, 20 questions each answered by one note.
Questions paraphrase the notes (different word order and inflections, some
different words); the hashing embedder knows no synonyms, so questions share
at least one content word with their note, as real follow-ups usually do.
"""

from __future__ import annotations

from o_lisp.memory import MemoryConfig, MemoryStore

NOTES = {
    "n01": "My sister Clara lives in Lisbon and works as an architect.",
    "n02": "The wifi password at the cabin is maple-syrup-42.",
    "n03": "Dentist appointment on March 3rd at 9:30 with Dr. Okafor.",
    "n04": "I am allergic to peanuts and shellfish.",
    "n05": "The project deadline for the Atlas report moved to Friday the 14th.",
    "n06": "Our cat Miso only eats salmon-flavoured food.",
    "n07": "The production database runs PostgreSQL 15 on a server called db-prod-2.",
    "n08": "Tom prefers to be contacted by email rather than phone.",
    "n09": "The spare house key is hidden under the blue flower pot.",
    "n10": "My passport expires in August 2027.",
    "n11": "The team standup meeting happens every weekday at 10am on Zoom.",
    "n12": "I parked the car on level 3 of the airport garage, row F.",
    "n13": "Grandma's lasagna recipe uses ricotta, nutmeg and fresh basil.",
    "n14": "The quarterly budget review is owned by Priya from finance.",
    "n15": "Backups of the photo library are stored on the external drive named Vault.",
    "n16": "My running goal this year is a half marathon under two hours.",
    "n17": "The landlord's phone number is 555-0199; rent is due on the 1st.",
    "n18": "Python 3.12 broke the legacy billing scripts because distutils was removed.",
    "n19": "I lent my camping tent to Marco in June.",
    "n20": "The garden tomatoes need watering every second evening.",
    "n21": "My favourite author is Ursula K. Le Guin; I am rereading The Dispossessed.",
    "n22": "Car insurance renews on November 30 with the company Helvetia.",
    "n23": "The office printer on floor 2 jams with thick paper; use tray 1.",
    "n24": "Anna's birthday is on July 19 and she loves dark chocolate.",
    "n25": "The VPN must be enabled before connecting to the staging cluster.",
    "n26": "I take vitamin D supplements every morning with breakfast.",
    "n27": "The band rehearsal moved from Thursday to Wednesday nights.",
    "n28": "Flight to Tokyo departs at 23:45 from terminal 2, seat 34A.",
    "n29": "The kitchen smoke detector battery was replaced in January.",
    "n30": "Our home electricity provider is GreenVolt with a fixed-price contract.",
}

QUESTIONS = [
    ("Where does Clara live?", "n01"),
    ("What's the cabin wifi password?", "n02"),
    ("When is my dentist appointment?", "n03"),
    ("Which foods am I allergic to?", "n04"),
    ("When is the Atlas report deadline?", "n05"),
    ("What food does Miso eat?", "n06"),
    ("Which PostgreSQL version does the production database run?", "n07"),
    ("How should I contact Tom?", "n08"),
    ("Where is the spare key hidden?", "n09"),
    ("When does my passport expire?", "n10"),
    ("What time is the daily standup meeting?", "n11"),
    ("Where did I park the car at the airport?", "n12"),
    ("What goes into grandma's lasagna?", "n13"),
    ("Who owns the quarterly budget review?", "n14"),
    ("Where are the photo backups stored?", "n15"),
    ("What is my marathon running goal?", "n16"),
    ("Why did the billing scripts break?", "n18"),
    ("Who borrowed my tent?", "n19"),
    ("When does the car insurance renew?", "n22"),
    ("When is Anna's birthday?", "n24"),
]

#: Measured 1.00 (20/20) with the hashing embedder and default weights; the floor
#: leaves a margin for tuning of tokenisation or weights, not for regressions.
RECALL_AT_5_FLOOR = 0.9


def test_recall_at_5_on_labelled_set() -> None:
    for quantize in (False, True):
        store = MemoryStore(MemoryConfig(dim=384, quantize=quantize))
        for i, (note_id, text) in enumerate(NOTES.items()):
            store.apply(store.prepare_add(text, now=1_700_000_000.0 + i, id_prefix=note_id))
        results = store.search_batch([q for q, _ in QUESTIONS], k=5, now=1_700_000_100.0)
        found = [f"{answer}-0" in [h.id for h in hits] for (_, answer), hits in zip(QUESTIONS, results, strict=True)]
        top1 = [hits[0].id == f"{answer}-0" for (_, answer), hits in zip(QUESTIONS, results, strict=True)]
        recall = sum(found) / len(found)
        print(f"\nmemory quality (quantize={quantize}): recall@5 = {recall:.2f} ({sum(found)}/{len(found)}), "
              f"top-1 = {sum(top1) / len(top1):.2f}")
        assert recall >= RECALL_AT_5_FLOOR
        assert sum(top1) / len(top1) >= 0.85  # measured 1.00
