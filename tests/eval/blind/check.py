#!/usr/bin/env python3
"""Sanity checks on a generated set: check.py DIR [DIR ...]

* counts per class and per country (country read back from the text fields)
* every truth id exists in base.csv; ids unique
* no duplicate addresses in base.csv by a canonical text form (own normaliser:
  case, accents, punctuation, spacing, glued/split words, abbreviations,
  ordinals folded; (country, town, street+number, postcode))
* label consistency with the same canonical form:
    - NEW queries whose canonical form equals a base row's  (should be ~0)
    - format-only positives (case/space/punctuation/abbreviation/...) whose
      canonical form differs from their truth row's            (should be ~0)
"""
import collections
import csv
import os
import re
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables as T  # noqa: E402

_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe"})


def strip_acc(s):
    s = s.translate(_SPECIAL)
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


COUNTRY = {}
for cc, names in T.COUNTRY_NAMES.items():
    for n in names + T.COUNTRY_LONG[cc]:
        COUNTRY[strip_acc(n).lower().strip()] = cc
for n in T.GB_NATIONS.values():
    COUNTRY[n.lower()] = "GB"

TOWN = {}
for cc, groups in T.TOWN_ALIASES.items():
    for g in groups:
        for a in g:
            TOWN[(cc, re.sub(r"[^a-z0-9]", "", strip_acc(a).lower()))] = re.sub(r"[^a-z0-9]", "", strip_acc(g[0]).lower())

# word -> class code (full word and all its abbreviations map to the same code)
WORD = {}
for full, abbrs in T.ABBR.items():
    code = re.sub(r"[^a-z0-9]", "", strip_acc(full).lower())
    for w in [full] + abbrs:
        WORD.setdefault(re.sub(r"[^a-z0-9]", "", strip_acc(w).lower()), set()).add(code)
for lang, d in T.ABBR_LANG.items():
    for full, abbrs in d.items():
        code = re.sub(r"[^a-z0-9]", "", strip_acc(full).lower())
        for w in [full] + abbrs:
            WORD.setdefault(re.sub(r"[^a-z0-9]", "", strip_acc(w).lower()), set()).add(code)
# collapse ambiguous abbreviations (st = street/saint/sankt/store/sint...) into one code
CODE = {w: "|".join(sorted(c)) for w, c in WORD.items()}
_merge = {}
for w, c in CODE.items():
    for part in c.split("|"):
        _merge.setdefault(part, set()).add(c)
# union-find over codes sharing a member
parent = {}


def find(x):
    while parent.get(x, x) != x:
        x = parent[x]
    return x


for w, c in CODE.items():
    parts = c.split("|")
    for p in parts[1:]:
        a, b = find(parts[0]), find(p)
        if a != b:
            parent[b] = a
WORDCODE = {w: "<" + find(c.split("|")[0]) + ">" for w, c in CODE.items()}
for i, w in enumerate(T.ORD_EN):
    if w:
        WORDCODE[w.lower()] = f"<ord{i}>"
for i, w in enumerate(T.ORD_NL):
    if w:
        WORDCODE[w.lower()] = f"<ord{i}>"
GLUE_TYPES = {strip_acc(t).lower() for lst in T.STREET_TYPES.values() for t, _, m in lst if m == "glue"}
GLUE_TYPES |= {re.sub(r"[^a-z]", "", strip_acc(a).lower()) for t in list(GLUE_TYPES) for a in T.ABBR.get(t, [])}
GLUE_TYPES = sorted((g for g in GLUE_TYPES if len(g) >= 2), key=len, reverse=True)
UNIT_WORDS = {"no", "nr"}


def norm_street(s, cc=""):
    s = strip_acc(s).lower()
    s = re.sub(r"\b(flat|apartment|apt|unit|u|bus|bte|boite|top)\.?\s*(no\.?)?\s*(\d+)", r" u\3 ", s)
    s = re.sub(r"#\s*(\d+)", r" u\1 ", s)
    if cc == "AU":
        s = re.sub(r"\b(\d+)\s*/\s*(\d+)", r" u\1 \2 ", s)
        s = re.sub(r"\bu(\d+)\s*/\s*(\d+)", r" u\1 \2 ", s)
    elif cc in ("AT", "BE"):
        s = re.sub(r"\b(\d+[a-z]?)\s*/\s*u?(\d+)", r" \1 u\2 ", s)
    elif cc == "NL":
        s = re.sub(r"\b(\d+)\s*-\s*(\d+)\b", r" \1 u\2 ", s)
        s = re.sub(r"\b(\d+) (\d+)\s*$", r" \1 u\2 ", s)
    elif cc == "DK":
        s = re.sub(r"(\d+[a-z]?)\s*,?\s+(st|\d+)\s*\.?\s*(t\.?v|t\.?h|m\.?f)\.?", lambda m: f" {m.group(1)} f{m.group(2)}{m.group(3).replace('.', '')} ", s)
    s = re.sub(r"\b(\d+)(st|nd|rd|th|e|ste|de)\b", r"<ord\1>", s)
    s = re.sub(r"\b(\d+) (st|nd|rd|th)\b", r"<ord\1>", s)
    s = re.sub(r"(\d+)\s*[-]?\s*([a-z])\b(?=\s*($|,|/|-|\bbus\b|\bbte\b|\btop\b|\bu\d))", r"\1\2", s)
    s = re.sub(r"\bv\.\s*d\.", "vd ", s)
    toks = re.findall(r"<ord\d+>|\bu\d+\w*|\bf(?:st|\d+)(?:tv|th|mf)|[a-z]+|\d+[a-z]?", s)
    out, nums = [], []
    for t in toks:
        if t.startswith("<"):
            out.append(t)
            continue
        if t[0].isdigit() or re.match(r"^(u\d|f(st|\d))", t):
            nums.append(t)
            continue
        if t in UNIT_WORDS:
            continue
        if t in WORDCODE:
            out.append(WORDCODE[t])
            continue
        for g in GLUE_TYPES:
            if t.endswith(g) and len(t) > len(g) + 1:
                code = WORDCODE.get(g, "<" + g + ">")
                out.append(t[:-len(g)])
                out.append(code)
                break
        else:
            out.append(t)
    return "".join(out), tuple(sorted(nums))


def norm_city(cc, s):
    s = re.sub(r",?\s+[A-Z]{2,3}$", "", s.strip()) if cc in ("US", "AU") else s
    f = re.sub(r"[^a-z0-9]", "", strip_acc(s).lower())
    f = re.sub(r"^(st|saint|sankt|sint)(?=[a-z])", "saint", f)
    return TOWN.get((cc, f), f)


def norm_pc(s):
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def country_of(s):
    return COUNTRY.get(strip_acc(s).lower().strip(), "?")


FORMAT_ONLY = {"exact", "case_space", "trivial_after_import", "punctuation", "abbreviation", "glued_split",
               "country_alias", "long_country_name", "ordinal"}


def check(d):
    base = list(csv.DictReader(open(os.path.join(d, "base.csv"), encoding="utf-8")))
    qs = list(csv.DictReader(open(os.path.join(d, "queries.csv"), encoding="utf-8")))
    ids = [r["id"] for r in base]
    byid = {r["id"]: r for r in base}
    print(f"### {d}: base={len(base)} queries={len(qs)}")
    print(f"base ids unique: {len(set(ids)) == len(ids)}")
    missing = [q["qid"] for q in qs if q["truth"] != "NEW" and q["truth"] not in byid]
    print(f"truth ids missing from base: {len(missing)}")
    bc = collections.Counter(country_of(r["country"]) for r in base)
    print("base countries: " + ", ".join(f"{k}={v}" for k, v in sorted(bc.items())))
    # canonical keys of base
    groups = collections.defaultdict(list)
    for r in base:
        cc = country_of(r["country"])
        st, nums = norm_street(r["street"], cc)
        groups[(cc, norm_city(cc, r["city"]), st, nums)].append((norm_pc(r["postal_code"]), r["id"]))
    dups = 0
    examples = []
    for k, lst in groups.items():
        if len(lst) < 2:
            continue
        pcs = [p for p, _ in lst]
        if "" in pcs or len(set(pcs)) < len(pcs):
            dups += 1
            if len(examples) < 5:
                examples.append([byid[i]["street"] + " | " + byid[i]["postal_code"] + " | " + byid[i]["city"]
                                 for _, i in lst])
    print(f"duplicate addresses in base by canonical form: {dups}")
    for e in examples:
        print("   e.g.", e)
    # queries
    cls = collections.Counter(q["class"] for q in qs)
    prim = collections.Counter(q["class"].split("+")[0] for q in qs)
    truth_in_base = collections.Counter(q["class"].split("+")[0] for q in qs if q["truth"] != "NEW")
    qc = collections.Counter()
    for q in qs:
        cc = country_of(q["country"])
        if cc == "?" and q["truth"] != "NEW":
            cc = country_of(byid[q["truth"]]["country"])
        qc[cc] += 1
    print("query countries: " + ", ".join(f"{k}={v}" for k, v in sorted(qc.items())))
    print(f"query truth: NEW={sum(1 for q in qs if q['truth'] == 'NEW')}, "
          f"matched={sum(1 for q in qs if q['truth'] != 'NEW')}; combined (+) classes={sum(v for k, v in cls.items() if '+' in k)}")
    print("class (primary)                 total  truth=base-id")
    for k, v in sorted(prim.items(), key=lambda x: -x[1]):
        print(f"  {k:30s} {v:6d} {truth_in_base[k]:6d}")
    # label consistency
    new_hits, fmt_bad, fmt_n = 0, 0, 0
    badcls = collections.Counter()
    ex_new, ex_fmt = [], []
    for q in qs:
        cc = country_of(q["country"])
        if q["truth"] != "NEW":
            cc = country_of(byid[q["truth"]]["country"])
        st, nums = norm_street(q["street"], cc)
        key = (cc, norm_city(cc, q["city"]), st, nums)
        if q["truth"] == "NEW":
            pcs = [p for p, _ in groups.get(key, [])]
            qp = norm_pc(q["postal_code"])
            if pcs and (qp == "" or qp in pcs or "" in pcs):
                new_hits += 1
                if len(ex_new) < 5:
                    ex_new.append((q["class"], q["street"], q["postal_code"], q["city"]))
        elif q["class"] in FORMAT_ONLY:
            fmt_n += 1
            b = byid[q["truth"]]
            bst, bnums = norm_street(b["street"], cc)
            if q["class"] == "glued_split":
                flat = lambda x: re.sub(r"[^a-z0-9]", "", strip_acc(x).lower())
                bad = flat(q["street"]) != flat(b["street"])
            else:
                bad = (bst, bnums) != (st, nums) or norm_city(cc, b["city"]) != key[1]
            if bad:
                badcls[q["class"]] += 1
                fmt_bad += 1
                if sum(1 for e in ex_fmt if e[0] == q["class"]) < 2:
                    ex_fmt.append((q["class"], q["street"], b["street"], q["city"], b["city"]))
    print(f"NEW queries equal to a base row by canonical form: {new_hits}")
    for e in ex_new:
        print("   e.g.", e)
    print(f"format-only positives whose canonical form differs from truth: {fmt_bad} / {fmt_n} {dict(badcls)}")
    for e in ex_fmt:
        print("   e.g.", e)
    print()


if __name__ == "__main__":
    for d in sys.argv[1:]:
        check(d)
