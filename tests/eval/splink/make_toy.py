#!/usr/bin/env python3
"""Tiny synthetic data set in the evaluation format, for developing peer.py
before the real sets exist. Not a model of the real generator.

usage: make_toy.py OUTDIR [--base N] [--queries N] [--seed S]
"""
import argparse
import csv
import os
import random

STREETS = {
    "NL": (["Kerk", "Molen", "Dorps", "School", "Stations", "Heren", "Prinsen", "Linden", "Beuken", "Eiken", "Wilhelmina", "Julianna", "Oranje", "Zuid", "Noord"],
           ["straat", "weg", "laan", "plein", "gracht", "singel", "kade"]),
    "DE": (["Haupt", "Bahnhof", "Kirch", "Schul", "Garten", "Berg", "Wald", "Linden", "Goethe", "Schiller", "Mozart", "Ring", "Markt"],
           ["straße", "weg", "gasse", "platz", "allee"]),
    "GB": (["Church", "Station", "Mill", "High", "Park", "Victoria", "Queen", "King", "Manor", "Green", "Oak", "Elm", "Chapel"],
           ["Road", "Lane", "Street", "Close", "Avenue", "Drive", "Crescent"]),
    "US": (["Main", "Oak", "Maple", "Washington", "Lake", "Hill", "Pine", "Cedar", "Elm", "View", "5th", "3rd", "Park"],
           ["Street", "Avenue", "Road", "Drive", "Lane", "Boulevard", "Court"]),
    "FR": (["de la Paix", "Victor Hugo", "de la République", "du Général de Gaulle", "des Écoles", "Pasteur", "Jean Jaurès", "du Moulin", "de l'Église"],
           ["Rue", "Avenue", "Boulevard", "Place", "Chemin", "Impasse"]),
}
CITIES = {
    "NL": [("Amsterdam", "10"), ("Utrecht", "35"), ("Den Haag", "25"), ("Zwolle", "80")],
    "DE": [("München", "80"), ("Köln", "50"), ("Berlin", "10"), ("Hamburg", "20")],
    "GB": [("London", "SW"), ("Leeds", "LS"), ("York", "YO"), ("Bath", "BA")],
    "US": [("Springfield", "62"), ("Portland", "97"), ("Austin", "78"), ("Boston", "02")],
    "FR": [("Paris", "75"), ("Lyon", "69"), ("Marseille", "13"), ("Nantes", "44")],
}
COUNTRY_ALIASES = {"NL": ["NL", "Netherlands", "Nederland", "Holland"], "DE": ["DE", "Germany", "Deutschland"],
                   "GB": ["GB", "United Kingdom", "UK", "England"], "US": ["US", "USA", "United States"],
                   "FR": ["FR", "France"]}
CITY_ALIASES = {"München": "Munich", "Köln": "Cologne", "Den Haag": "'s-Gravenhage"}


def postcode(rng, cc, pre):
    if cc == "NL":
        return f"{pre}{rng.randint(10, 99)}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
    if cc in ("DE", "US", "FR"):
        return f"{pre}{rng.randint(100, 999)}"
    if cc == "GB":
        return f"{pre}{rng.randint(1, 20)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"


def fmt_street(cc, name, typ, hn, suf, unit):
    hs = f"{hn}{suf}"
    if cc in ("NL", "DE"):
        s = f"{name}{typ} {hs}" if not name.endswith(" ") else f"{name}{typ} {hs}"
        if unit:
            s += f"-{unit}" if cc == "NL" else f", Whg {unit}"
        return s
    if cc == "FR":
        return f"{hs} {typ} {name}" + (f", Apt {unit}" if unit else "")
    s = f"{hs} {name} {typ}"
    if unit:
        s = (f"Flat {unit}, " + s) if cc == "GB" else (s + f" Apt {unit}")
    return s


def typo(rng, s):
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    k = rng.random()
    if k < 0.33:
        return s[:i] + s[i + 1:]
    if k < 0.66:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + rng.choice("aeiourstn") + s[i + 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--base", type=int, default=6000)
    ap.add_argument("--queries", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    # extend each country's name list with pseudo-random names so streets are not all alike
    syl = ["ber", "lin", "ka", "to", "mar", "wen", "dor", "hal", "sen", "ri", "mo", "len", "ste", "van", "gro"]
    nr = random.Random(99)
    for cc in STREETS:
        extra = {"".join(nr.choice(syl) for _ in range(nr.randint(2, 3))).capitalize() for _ in range(400)}
        STREETS[cc] = (STREETS[cc][0] + sorted(extra), STREETS[cc][1])
    os.makedirs(a.out, exist_ok=True)
    recs = []
    pcs = {}
    for i in range(a.base):
        cc = rng.choice(list(STREETS))
        names, types = STREETS[cc]
        name, typ = rng.choice(names), rng.choice(types)
        city, pre = rng.choice(CITIES[cc])
        key = (cc, city, name, typ)
        if key not in pcs:
            pcs[key] = postcode(rng, cc, pre)
        hn = rng.randint(1, 120)
        suf = rng.choice("ABC") if rng.random() < 0.1 else ""
        unit = str(rng.randint(1, 6)) if rng.random() < 0.1 else ""
        recs.append(dict(id=f"B{i:06d}", cc=cc, name=name, typ=typ, hn=hn, suf=suf, unit=unit, city=city, pc=pcs[key]))
    seen = set()
    uniq = []
    for r in recs:
        k = (r["cc"], r["city"], r["name"], r["typ"], r["hn"], r["suf"], r["unit"])
        if k not in seen:
            seen.add(k)
            uniq.append(r)
    recs = uniq
    with open(os.path.join(a.out, "base.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "ref", "street", "postal_code", "city", "country"])
        for r in recs:
            w.writerow([r["id"], "ref" + r["id"], fmt_street(r["cc"], r["name"], r["typ"], r["hn"], r["suf"], r["unit"]), r["pc"], r["city"], r["cc"]])
    with open(os.path.join(a.out, "queries.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["qid", "street", "postal_code", "city", "country", "truth", "class"])
        for q in range(a.queries):
            r = dict(rng.choice(recs))
            kind = rng.random()
            truth, cls = r["id"], "match"
            if kind < 0.15:
                r["hn"] += rng.choice([1, 2, -1, -2]) if r["hn"] > 2 else 1
                truth, cls = "NEW", "hn_neg"
            elif kind < 0.25:
                r["typ"] = rng.choice([t for t in STREETS[r["cc"]][1] if t != r["typ"]])
                truth, cls = "NEW", "sibling_neg"
            elif kind < 0.3:
                r["city"], pre = rng.choice([c for c in CITIES[r["cc"]] if c[0] != r["city"]])
                r["pc"] = postcode(rng, r["cc"], pre)
                truth, cls = "NEW", "town_neg"
            k = (r["cc"], r["city"], r["name"], r["typ"], r["hn"], r["suf"], r["unit"])
            if truth == "NEW" and k in seen:
                continue
            street = fmt_street(r["cc"], r["name"], r["typ"], r["hn"], r["suf"], r["unit"])
            pc, city, country = r["pc"], r["city"], rng.choice(COUNTRY_ALIASES[r["cc"]])
            if rng.random() < 0.3:
                street = typo(rng, street)
                cls += "+typo"
            if rng.random() < 0.2:
                street = street.replace("Street", "St").replace("Road", "Rd").replace("straße", "str.").replace("Avenue", "Ave").replace("straat", "str")
            if rng.random() < 0.1:
                street = street.lower()
            if rng.random() < 0.1 and r["cc"] in ("NL", "DE"):
                street = street.replace(r["typ"], " " + r["typ"])
            if rng.random() < 0.2:
                pc = pc.replace(" ", "").lower()
            if rng.random() < 0.1:
                pc = ""
            if city in CITY_ALIASES and rng.random() < 0.3:
                city = CITY_ALIASES[city]
            if rng.random() < 0.1:
                city = typo(rng, city)
            w.writerow([f"Q{q:06d}", street, pc, city, country, truth, cls])


if __name__ == "__main__":
    main()
