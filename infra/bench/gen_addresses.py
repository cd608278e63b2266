#!/usr/bin/env python3
"""Writes N synthetic base addresses as CSV (ref,street,postal_code,city,country).

Deterministic (seeded), several countries with their own house-number
placement and postal-code shapes; for load tests of import and paging, not
for match quality (the matching crate has its own evaluation generator)."""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(42)
nl_names = ["Kerk", "Molen", "Dorps", "School", "Stations", "Hoofd", "Wilhelmina", "Juliana", "Beatrix", "Oranje", "Linden", "Eiken", "Beuken", "Zuid", "Noord", "Oost", "West", "Haven", "Markt", "Brink"]
nl_types = ["straat", "weg", "laan", "plein", "gracht", "singel"]
nl_towns = ["Utrecht", "Amsterdam", "Rotterdam", "Den Haag", "Eindhoven", "Leiden", "Delft", "Haarlem", "Zwolle", "Arnhem"]
de_names = ["Haupt", "Bahnhof", "Schul", "Garten", "Berg", "Linden", "Kirch", "Wald", "Müller", "Goethe", "Schiller", "Mozart"]
de_types = ["straße", "weg", "allee", "platz", "gasse"]
de_towns = ["Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main", "Stuttgart", "Leipzig", "Dresden"]
en_names = ["Church", "Station", "Park", "High", "Mill", "Victoria", "King", "Queen", "Oak", "Elm", "Maple", "River", "Hill", "Lake", "Main"]
en_types = ["Street", "Road", "Lane", "Avenue", "Close", "Drive"]
us_towns = [("New York", "100"), ("Springfield", "627"), ("Portland", "972"), ("Austin", "787"), ("Denver", "802")]
gb_towns = [("London", "SW1A"), ("Leeds", "LS1"), ("Bristol", "BS1"), ("York", "YO1"), ("Bath", "BA1")]

out = sys.stdout
out.write("ref,street,postal_code,city,country\n")
for i in range(n):
    r = rng.random()
    number = rng.randint(1, 400)
    if r < 0.45:
        town = rng.choice(nl_towns)
        street = f"{rng.choice(nl_names)}{rng.choice(nl_types)} {number}"
        postal = f"{rng.randint(1000, 9999)} {chr(65 + rng.randint(0, 25))}{chr(65 + rng.randint(0, 25))}"
        country = "NL"
    elif r < 0.7:
        town = rng.choice(de_towns)
        street = f"{rng.choice(de_names)}{rng.choice(de_types)} {number}"
        postal = f"{rng.randint(10000, 99999)}"
        country = "DE"
    elif r < 0.85:
        town, prefix = rng.choice(us_towns)
        street = f"{number} {rng.choice(en_names)} {rng.choice(en_types)}"
        postal = f"{prefix}{rng.randint(0, 99):02d}"
        country = "US"
    else:
        town, outward = rng.choice(gb_towns)
        street = f"{number} {rng.choice(en_names)} {rng.choice(en_types)}"
        postal = f"{outward} {rng.randint(1, 9)}{chr(65 + rng.randint(0, 25))}{chr(65 + rng.randint(0, 25))}"
        country = "GB"
    out.write(f"P{i:07d},{street},{postal},{town},{country}\n")
