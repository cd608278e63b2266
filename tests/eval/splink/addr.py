"""General-purpose postal address standardisation for the Splink peer.

Written from general knowledge of international address conventions; it is not
tuned to any particular data generator.  One entry point: `standardise(street,
postal_code, city, country)` -> dict of comparison / blocking features.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pycountry
from unidecode import unidecode

# --------------------------------------------------------------------------
# country
# --------------------------------------------------------------------------
_COUNTRY_ALIASES = {
    # GB
    "uk": "GB", "u k": "GB", "united kingdom": "GB", "great britain": "GB", "britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "grossbritannien": "GB", "royaume uni": "GB", "verenigd koninkrijk": "GB", "storbritannien": "GB",
    # US
    "usa": "US", "u s a": "US", "u s": "US", "us": "US", "america": "US", "united states": "US",
    "united states of america": "US", "vereinigte staaten": "US", "etats unis": "US",
    "verenigde staten": "US", "amerika": "US",
    # NL
    "holland": "NL", "the netherlands": "NL", "netherlands": "NL", "nederland": "NL",
    "niederlande": "NL", "pays bas": "NL", "nederlanderne": "NL",
    # DE
    "deutschland": "DE", "germany": "DE", "allemagne": "DE", "duitsland": "DE", "tyskland": "DE",
    "brd": "DE", "bundesrepublik deutschland": "DE",
    # FR
    "france": "FR", "frankreich": "FR", "frankrijk": "FR", "frankrig": "FR", "republique francaise": "FR",
    # BE
    "belgium": "BE", "belgique": "BE", "belgie": "BE", "belgien": "BE", "belgio": "BE",
    # AT
    "austria": "AT", "osterreich": "AT", "oesterreich": "AT", "autriche": "AT", "oostenrijk": "AT",
    "ostrig": "AT",
    # CH
    "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "svizra": "CH",
    "helvetia": "CH", "confoederatio helvetica": "CH", "zwitserland": "CH", "schwiez": "CH",
    # DK
    "denmark": "DK", "danmark": "DK", "daenemark": "DK", "danemark": "DK", "denemarken": "DK",
    # AU
    "australia": "AU", "australien": "AU", "australie": "AU", "oz": "AU",
    # misc neighbours
    "luxembourg": "LU", "luxemburg": "LU", "ireland": "IE", "eire": "IE", "canada": "CA",
    "new zealand": "NZ", "italy": "IT", "italia": "IT", "spain": "ES", "espana": "ES",
    "sweden": "SE", "sverige": "SE", "norway": "NO", "norge": "NO", "poland": "PL", "polska": "PL",
}


@lru_cache(maxsize=None)
def country_iso(raw: str | None) -> str | None:
    if raw is None:
        return None
    s = re.sub(r"[^a-z ]+", " ", unidecode(raw).lower()).strip()
    s = re.sub(r"\s+", " ", s)
    if not s:
        return None
    if s in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[s]
    if s.startswith("the "):
        s2 = s[4:]
        if s2 in _COUNTRY_ALIASES:
            return _COUNTRY_ALIASES[s2]
    try:
        c = pycountry.countries.lookup(raw.strip())
        return c.alpha_2
    except LookupError:
        pass
    try:
        c = pycountry.countries.lookup(s)
        return c.alpha_2
    except LookupError:
        pass
    compact = s.replace(" ", "")
    if len(compact) in (2, 3):
        try:
            return pycountry.countries.lookup(compact).alpha_2
        except LookupError:
            pass
    return s.upper()[:20]


# --------------------------------------------------------------------------
# text folding
# --------------------------------------------------------------------------
def fold(s: str | None) -> str:
    """lower-case ASCII fold; German sharp s -> ss, ligatures expanded."""
    if not s:
        return ""
    s = s.replace("ß", "ss").replace("ẞ", "ss")
    s = unidecode(s).lower()
    return s


_DIGRAPHS = [("ae", "a"), ("oe", "o"), ("ue", "u"), ("aa", "a"), ("ss", "s"), ("ij", "y"),
             ("ph", "f"), ("th", "t"), ("ck", "k")]


@lru_cache(maxsize=500000)
def phon_fold(s: str) -> str:
    """Lossy key that merges common transliteration variants (ü/ue/u, å/aa/a, ß/ss/s, ij/y)."""
    for a, b in _DIGRAPHS:
        s = s.replace(a, b)
    s = re.sub(r"(.)\1+", r"\1", s)  # collapse doubled letters
    return s


@lru_cache(maxsize=500000)
def soundex(word: str) -> str:
    word = re.sub(r"[^a-z]", "", word)
    if not word:
        return ""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
             "l": "4", **dict.fromkeys("mn", "5"), "r": "6"}
    out = word[0]
    last = codes.get(word[0], "")
    for ch in word[1:]:
        c = codes.get(ch, "")
        if c and c != last:
            out += c
        if ch not in "hw":
            last = c
    return (out + "000")[:4]


# --------------------------------------------------------------------------
# street vocabulary
# --------------------------------------------------------------------------
# canonical street types (whole words)
_TYPE_WORDS = {
    # English
    "street", "road", "lane", "avenue", "drive", "close", "court", "place", "square", "crescent",
    "terrace", "gardens", "grove", "way", "walk", "row", "hill", "mews", "parade", "boulevard",
    "parkway", "highway", "circle", "trail", "heights", "green", "rise", "view", "park", "gate",
    "mount", "wharf", "path", "alley", "broadway", "esplanade", "promenade", "quay", "yard", "vale",
    "highway", "pike", "loop", "run", "crossing", "plaza", "point", "ridge", "glen", "meadow", "circuit",
    # Dutch / Flemish
    "straat", "weg", "laan", "plein", "gracht", "kade", "singel", "dijk", "dreef", "steeg", "pad",
    "hof", "markt", "wal", "baan", "dam", "burgwal", "plantsoen", "park", "erf", "veld", "oord",
    # German
    "strasse", "gasse", "platz", "allee", "ring", "damm", "ufer", "chaussee", "steig", "pfad",
    "zeile", "graben", "kai", "markt", "stieg", "twiete", "wall", "hof", "berg", "feld", "garten",
    # French
    "rue", "avenue", "boulevard", "place", "chemin", "impasse", "allee", "route", "quai", "cours",
    "passage", "square", "faubourg", "sentier", "voie", "ruelle", "rond point", "esplanade", "cite",
    "residence", "hameau", "lieu dit", "montee", "traverse",
    # Danish
    "vej", "gade", "alle", "straede", "torv", "plads", "vaenge", "vaenget", "park", "have", "stien",
    "boulevard", "kaj", "bakke", "toft", "lund", "haven",
}

# token abbreviations; value None = drop.  ("st" handled separately)
_ABBR = {
    # English
    "rd": "road", "ave": "avenue", "av": "avenue", "avn": "avenue", "aven": "avenue", "ln": "lane",
    "dr": "drive", "drv": "drive", "ct": "court", "crt": "court", "pl": "place", "plc": "place",
    "sq": "square", "cres": "crescent", "cresc": "crescent", "cr": "crescent", "tce": "terrace",
    "terr": "terrace", "ter": "terrace", "gdns": "gardens", "gdn": "gardens", "gr": "grove", "grv": "grove",
    "blvd": "boulevard", "bvd": "boulevard", "boul": "boulevard", "bd": "boulevard", "bld": "boulevard",
    "pkwy": "parkway", "pky": "parkway", "hwy": "highway", "cir": "circle", "trl": "trail",
    "pde": "parade", "hts": "heights", "mt": "mount", "ft": "fort", "cl": "close", "wy": "way",
    "pk": "park", "esp": "esplanade", "prom": "promenade", "plz": "plaza", "pt": "point",
    "n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest", "nth": "north", "sth": "south", "gt": "great",
    "upr": "upper", "lwr": "lower", "lt": "little",
    # Dutch
    "str": "straat", "ln.": "laan", "pln": "plein", "gr.": "gracht", "sngl": "singel", "kd": "kade",
    "burg": "burgemeester", "prof": "professor", "mr": "meester", "jhr": "jonkheer",
    "v": "van", "vd": "van der", "vd.": "van der",
    # German
    "strasse": "strasse", "str.": "strasse", "g": "gasse", "pl.": "platz",
    # French
    "r": "rue", "imp": "impasse", "ch": "chemin", "che": "chemin", "chem": "chemin", "rte": "route",
    "all": "allee", "fbg": "faubourg", "sq.": "square", "pass": "passage", "qu": "quai",
    "res": "residence", "gen": "general", "gal": "general", "mal": "marechal", "pdt": "president",
    "ste": "sainte", "sts": "saints",
    # Danish
    "gl": "gammel", "skt": "sankt", "kgs": "kongens", "vej.": "vej",
}
# country specific overrides of ambiguous abbreviations
_ABBR_CC = {
    "GB": {"str": "street"}, "US": {"str": "street"}, "AU": {"str": "street"}, "IE": {"str": "street"},
    "NZ": {"str": "street"}, "CA": {"str": "street"},
    "DE": {"str": "strasse", "pl": "platz", "g": "gasse", "dr": "doktor", "st": "sankt", "all": "allee"},
    "AT": {"str": "strasse", "pl": "platz", "g": "gasse", "dr": "doktor", "st": "sankt", "all": "allee"},
    "CH": {"str": "strasse", "pl": "platz", "g": "gasse", "dr": "doktor", "st": "sankt", "all": "allee",
           "av": "avenue", "r": "rue", "ch": "chemin"},
    "NL": {"str": "straat", "pl": "plein", "ln": "laan", "st": "sint", "gr": "gracht", "dr": "dokter"},
    "BE": {"str": "straat", "pl": "plein", "ln": "laan", "st": "sint", "dr": "dokter", "av": "avenue",
           "r": "rue", "bd": "boulevard", "ch": "chemin"},
    "DK": {"st": "store", "pl": "plads", "g": "gade", "v": "vej", "all": "alle"},
    "FR": {"st": "saint", "pl": "place", "r": "rue", "av": "avenue", "dr": "docteur", "str": "strasse"},
}

# glued suffixes for compound street names (Germanic languages) -> canonical type
_GLUED_SUFFIXES = [
    ("strasse", "strasse"), ("strase", "strasse"), ("str", None), ("straat", "straat"),
    ("gasse", "gasse"), ("platz", "platz"), ("allee", "allee"), ("weg", "weg"), ("laan", "laan"),
    ("plein", "plein"), ("gracht", "gracht"), ("kade", "kade"), ("singel", "singel"),
    ("dijk", "dijk"), ("dreef", "dreef"), ("steeg", "steeg"), ("ring", "ring"), ("damm", "damm"),
    ("ufer", "ufer"), ("markt", "markt"), ("vej", "vej"), ("gade", "gade"), ("alle", "alle"),
    ("straede", "straede"), ("torv", "torv"), ("plads", "plads"), ("vaenget", "vaenget"),
    ("vaenge", "vaenge"), ("pad", "pad"), ("hof", "hof"), ("wal", "wal"), ("baan", "baan"),
    ("chaussee", "chaussee"), ("graben", "graben"), ("steig", "steig"), ("pfad", "pfad"),
    # English types glued to the name by a typing slip ("churchlane"); applied to both sides alike
    ("street", "street"), ("road", "road"), ("lane", "lane"), ("avenue", "avenue"), ("drive", "drive"),
    ("close", "close"), ("court", "court"), ("place", "place"), ("square", "square"),
    ("crescent", "crescent"), ("terrace", "terrace"), ("gardens", "gardens"), ("grove", "grove"),
    ("boulevard", "boulevard"),
    ("zeile", "zeile"), ("kai", "kai"), ("stieg", "stieg"), ("park", "park"), ("berg", "berg"),
]
_GLUED_SUFFIXES.sort(key=lambda x: -len(x[0]))

_FRENCH_PREFIX_TYPES = {"rue", "avenue", "boulevard", "place", "chemin", "impasse", "allee", "route",
                        "quai", "cours", "passage", "square", "faubourg", "sentier", "voie", "ruelle",
                        "esplanade", "promenade", "cite", "residence", "hameau", "montee", "traverse",
                        "via", "viale", "calle", "rond"}
_STOP = {"de", "la", "le", "les", "du", "des", "l", "d", "of", "the", "van", "der", "den", "het",
         "am", "an", "der", "im", "in", "zum", "zur", "von", "auf", "op", "aan", "t", "s", "et", "and"}

_ORD_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "premier": 1, "premiere": 1, "deuxieme": 2, "troisieme": 3,
    "erste": 1, "zweite": 2, "dritte": 3, "eerste": 1, "tweede": 2, "derde": 3,
}
_ORD_RE = re.compile(r"^(\d+)(st|nd|rd|th|e|de|ste|er|re|eme|ieme|me|ter|te)$")

# unit / secondary designators (normalised tokens)
_UNIT_WORDS = {
    "u",
    "flat", "apt", "apartment", "appartement", "appt", "app", "unit", "suite", "ste", "room", "rm",
    "no", "nr", "num", "number", "bus", "bte", "boite", "top", "stiege", "stg", "tur", "whg",
    "wohnung", "etage", "etg", "floor", "fl", "flr", "level", "lvl", "lot", "bldg", "building",
    "block", "blk", "shop", "office", "ofc", "dept", "department", "po", "box", "basement", "bsmt",
    "penthouse", "ph", "stock", "og", "eg", "dg", "ug", "verdieping", "hoog", "hs", "huis", "bg",
    "tv", "th", "mf", "sal", "kl", "st", "lejl", "lejlighed", "piso", "rez", "esc", "bat", "batiment",
    "escalier", "porte", "door", "hinterhaus", "vorderhaus", "seitenfluegel", "haus", "hausnr",
    "trap", "tr", "portal", "stair",
}
# words that are pure floor/side markers with no value of their own (Danish 'th', 'tv', 'mf')
_SIDE_WORDS = {"tv": "tv", "th": "th", "mf": "mf", "hs": "hs", "bg": "bg", "huis": "hs", "sal": "sal"}
_SUFFIX_WORDS = {"bis": "bis", "ter": "ter", "quater": "quater", "a": "a"}
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8",
          "ix": "9", "x": "10"}


def _tokens(s: str) -> list[str]:
    s = fold(s)
    s = s.replace("'", "").replace("\u2019", "")
    # keep digits+letters together ("12a"), split punctuation
    return re.findall(r"[a-z0-9]+|#|/|,", s)


@lru_cache(maxsize=500000)
def _canon_token(tok: str, cc: str | None, pos: int, n: int) -> str:
    if tok in _ORD_WORDS:
        return str(_ORD_WORDS[tok])
    m = _ORD_RE.match(tok)
    if m:
        return m.group(1)
    ov = _ABBR_CC.get(cc or "", {})
    if tok == "st" and "st" not in ov:
        # English convention: leading St = Saint, trailing St = Street
        return "saint" if (pos == 0 and n > 1) else "street"
    if tok in ov:
        return ov[tok]
    if tok in _ABBR:
        return _ABBR[tok]
    return tok


_TYPE_TYPO_RE = [
    (re.compile(r"^(.{3,}?)(stra+s+e|stra+se|strs+e|srasse|stras|strase)$"), "strasse"),
    (re.compile(r"^(.{3,}?)(stra+t|straa+t|sraat|stat|staat|strat)$"), "straat"),
]


@lru_cache(maxsize=500000)
def _split_glued(word: str, cc: str | None = None) -> tuple[str, str | None]:
    for suf, canon in _GLUED_SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            if canon is None:  # "...str" abbreviated glued form
                canon = "straat" if cc in ("NL", "BE") else "strasse"
            return word[: -len(suf)], canon
    if cc in ("NL", "BE"):
        for suf, canon in (("pln", "plein"), ("ln", "laan"), ("wg", "weg"), ("gr", "gracht")):
            if word.endswith(suf) and len(word) - len(suf) >= 4:
                return word[: -len(suf)], canon
    for rx, canon in _TYPE_TYPO_RE:
        m = rx.match(word)
        if m:
            return m.group(1), canon
    return word, None


_TYPE_LIST = sorted(_TYPE_WORDS)


@lru_cache(maxsize=500000)
def _fuzzy_type(tok: str) -> str | None:
    """a mistyped street-type word ("stret", "avenu", "raod") -> canonical type"""
    if len(tok) < 4:
        return None
    best = None
    for t in _TYPE_LIST:
        if len(t) < 4 or abs(len(t) - len(tok)) > 1 or t[0] != tok[0]:
            continue
        if _osa(tok, t) <= 1:
            if best is not None and best != t:
                return None  # ambiguous
            best = t
    return best


def _osa(a: str, b: str) -> int:
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            c = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + c)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


_STRONG_TYPES = {
    "street", "road", "lane", "avenue", "drive", "close", "way", "crescent", "terrace", "gardens", "grove",
    "place", "court", "square", "boulevard", "parkway", "highway", "circle", "trail", "parade", "esplanade",
    "promenade", "quay", "mews", "walk", "row", "alley",
} | (_TYPE_WORDS - {"view", "hill", "park", "green", "rise", "gate", "mount", "vale", "meadow", "ridge",
                    "point", "glen", "yard", "wharf", "run", "loop", "pike", "crossing", "hof", "berg", "feld",
                    "garten", "lund", "haven", "have", "toft", "bakke", "veld", "oord", "erf", "residence", "cite",
                    "hameau"})
_HOUSE_WORDS = {"cottage", "cottages", "house", "farm", "farmhouse", "lodge", "barn", "villa", "bungalow",
                "chalet", "manse", "rectory", "vicarage", "grange", "croft", "haus", "huis", "hoeve", "gaard",
                "gard", "building", "bldg", "tower", "mansions", "apartments", "flats", "residences"}

_US_STATES = ("al ak az ar ca co ct de fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm "
              "ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy dc").split()
_AU_STATES = ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]
_PC_TAIL = {
    "NL": r"\d{4}\s?[a-z]{2}", "GB": r"[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2}", "US": r"\d{5}(?:-\d{4})?",
    "DE": r"\d{5}", "FR": r"\d{5}", "AT": r"\d{4}", "CH": r"\d{4}", "BE": r"\d{4}", "DK": r"\d{4}",
    "AU": r"\d{4}", "LU": r"\d{4}",
}
_PC_ANY = r"(?:[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2}|\d{4}\s?[a-z]{2}|\d{5}(?:-\d{4})?|\d{4})"


def strip_locality(s: str, pc_raw: str | None, city_raw: str | None, cc: str | None):
    """Remove a trailing '<postcode> <town>' / '<town>, <state> <zip>' / ', <country>' typed into
    the street line.  Works on folded text.  -> (street, postcode_found)"""
    city = re.sub(r"[^a-z0-9]+", " ", fold(city_raw)).strip() if city_raw else ""
    pcn = re.sub(r"[^a-z0-9]", "", fold(pc_raw)) if pc_raw else ""
    pc_pat = _PC_TAIL.get(cc or "", _PC_ANY)
    town_found = None
    if not city:
        # town not given separately: look for "<pc> <town>" or "<town>[, state] <pc>" at the end
        town = r"([a-z][a-z .'/-]*[a-z])"
        strong_pc = cc in ("NL", "GB") or cc not in _PC_TAIL
        if strong_pc:
            m = re.match(r"^(.*?)[\s,.]+(?:[a-z]{1,2}-)?(" + pc_pat + r")\s*,?\s*" + town + r"$", s)
        else:
            m = re.match(r"^(.*?(?:\d[a-z]?|,))\s*,?\s*(?:[a-z]{1,2}-)?(" + pc_pat + r")\s*,?\s*" + town + r"$", s)
        if m and re.search(r"[a-z]{2}", m.group(1)) and (strong_pc or m.group(1).endswith(",")
                                                          or re.search(r"\d[a-z]?$", m.group(1))):
            return m.group(1).rstrip(" ,"), m.group(2), m.group(3)
        states = _US_STATES if cc == "US" else _AU_STATES if cc == "AU" else []
        st = r"(?:(?:" + "|".join(states) + r")\s+)?" if states else ""
        m = re.match(r"^(.*?),\s*" + town + r"\s*,?\s+" + st + r"(" + pc_pat + r")$", s)
        if m and re.search(r"[a-z]{2}", m.group(1)):
            t = m.group(2)
            if states:
                t = re.sub(r"\s+(" + "|".join(states) + r")$", "", t)
            return m.group(1).rstrip(" ,"), m.group(3), t
    states = _US_STATES if cc == "US" else _AU_STATES if cc == "AU" else []
    found = None
    city_cut = False
    for _ in range(5):
        t = s.rstrip(" ,;.")
        # ", <country>"
        m = re.search(r",\s*([a-z][a-z .]{1,30})$", t)
        if m and cc and country_iso(m.group(1)) == cc:
            s = t[: m.start()]
            continue
        # "<town>" after a comma, a number or a postcode
        if city:
            flat = re.sub(r"[^a-z0-9]+", " ", t).strip()
            if flat.endswith(" " + city):
                n = len(city.split())
                toks = list(re.finditer(r"[a-z0-9]+", t))
                if len(toks) > n:
                    cut = toks[-n].start()
                    head = t[:cut].rstrip(" -")
                    if re.search(r"[a-z]{2}", head) and re.search(r"(,|\d|\d\s?[a-z]{2})$", head):
                        s = head.rstrip(" ,;")
                        city_cut = True
                        continue
        # "<state> <zip>" / "<postcode>"
        m = re.search(r"(?:^|[,\s])(?:[a-z]{1,2}-)?(" + pc_pat + r")$", t)
        if m:
            cand = m.group(1)
            pre = t[: m.start()].rstrip()
            candn = re.sub(r"[^a-z0-9]", "", cand)
            st = re.search(r"(?:^|[\s,])(" + "|".join(states) + r")$", pre) if states else None
            strong = bool(re.search(r"[a-z]", cand)) or bool(pcn and candn[:5] == pcn[:5]) or city_cut \
                or pre.endswith(",") or bool(st)
            if strong and re.search(r"[a-z]{2}", pre) and (re.search(r"\d", pre) or (pcn and candn[:5] == pcn[:5])):
                found = found or cand
                if st:
                    pre = pre[: st.start()]
                s = pre.rstrip(" ,;-")
                city_cut = False
                continue
        s = t
        break
    return s, found, town_found


def parse_street(raw: str | None, cc: str | None, pc_raw: str | None = None, city_raw: str | None = None):
    """-> (street_tokens (canonical, types included), house_number, suffix, unit_tokens, house_name,
    postcode found in the street line)"""
    if not raw:
        return [], None, None, [], None, None, None
    # case boundaries of glued input: "77aKing Drive" -> "77a King Drive"
    raw = re.sub(r"(\d)([a-z]?)([A-Z][a-z]{2,})", r"\1\2 \3", raw)
    if not raw.isupper():
        raw = re.sub(r"([a-z]{2,})([A-Z][a-z]{2,})", r"\1 \2", raw)  # "ChurchLane" -> "Church Lane"
    s = fold(raw)
    s = re.sub(r"\b([a-z])\.\s?([a-z])\b\.?", r"\1\2", s)  # "t.h." -> "th", "t.v." -> "tv"
    s, pc_found, town_found = strip_locality(s, pc_raw, city_raw, cc)
    # glued name + number: "herenweg17" -> "herenweg 17"; "90oak" -> "90 oak" (not ordinals 5th/1er/2eme)
    s = re.sub(r"(\d)(st|nd|rd|th)([a-z]{3,})", r"\1\2 \3", s)  # "2ndroad" -> "2nd road"
    if cc != "DK":
        s = re.sub(r"\b(\d*1)\s+st\b(?=\s+[a-z]{2,})", r"\1st", s)  # "8 th road" -> "8th road"
        s = re.sub(r"\b(\d*2)\s+nd\b(?=\s+[a-z]{2,})", r"\1nd", s)
        s = re.sub(r"\b(\d*3)\s+rd\b(?=\s+[a-z]{2,})", r"\1rd", s)
        s = re.sub(r"\b(\d*[04-9]|\d*1[1-3])\s+th\b(?=\s+[a-z]{2,})", r"\1th", s)
    # "U9/17" "unit9" -> "u 9/17"
    s = re.sub(r"\b(u|unit|apt|flat|lot|shop|suite)(\d)", r"\1 \2", s)
    s = re.sub(r"([a-z]{3,})(\d)", r"\1 \2", s)
    s = re.sub(r"(\d)(?!(?:st|nd|rd|th|er|re|e|de|ste|eme|ieme|te|ter)\b)([a-z]{3,})", r"\1 \2", s)
    # protect "12-14" style ranges / "3/15" unit-number / "5/2/7" Austrian stairs-door
    s = s.replace("\u2013", "-").replace("\u2014", "-")
    s = re.sub(r"(\d)\s*([a-z])\s*-\s*(\d)", r"\1\2 - \3", s)
    s = s.replace("'", "")
    segs0 = [g.strip() for g in re.split(r"[,;\n]", s) if g.strip()]
    if not segs0:
        return [], None, None, [], None, pc_found, town_found
    # a segment that is only a house number belongs to the preceding segment ("Meistergasse, 9")
    segs = []
    num_re = (r"(?:no\.?\s*|nr\.?\s*)?\d+\s*[a-z]?(?:\s*[-/]\s*\d*[a-z]?)*"
              r"(?:\s+(?:apt|unit|flat|suite|ste|bus|app|top|#)\s*[a-z0-9]+)?")
    carry = None
    for gi, g in enumerate(segs0):
        if carry is not None:
            g = carry + " " + g
            carry = None
        if re.fullmatch(num_re, g):
            nxt = segs0[gi + 1] if gi + 1 < len(segs0) else None
            nxt_street = nxt is not None and re.match(r"[a-z]", nxt) and not re.search(r"\b\d+[a-z]?\b", nxt.split(" apt ")[0]) \
                and any(_canon_token(x, cc, 1, 2) in _STRONG_TYPES for x in re.findall(r"[a-z]+", nxt))
            if nxt_street:
                carry = g
                continue
            if segs and re.search(r"[a-z]{2}", segs[-1]):
                segs[-1] = segs[-1] + " " + g
                continue
        segs.append(g)
    if carry is not None:
        segs.append(carry)

    unit_toks: list[str] = []
    street_seg = None
    parsed = []
    for g in segs:
        toks = re.findall(r"[a-z0-9]+|#|/|-|\.", g)
        toks = [t for t in toks if t != "."]
        parsed.append(toks)

    def has_alpha_word(toks):
        return any(re.fullmatch(r"[a-z]{2,}", t) and t not in _UNIT_WORDS for t in toks)

    def has_num(toks):
        return any(re.match(r"\d", t) and not _ORD_RE.match(t) for t in toks)

    # choose the street segment: contains a word and a number, and does not start
    # with a unit designator; otherwise the segment with a street-type word; else the last
    cand = [i for i, t in enumerate(parsed) if has_alpha_word(t) and has_num(t)
            and not (t and t[0] in _UNIT_WORDS and len(t) <= 3)]
    def typed(t):
        return any(_canon_token(x, cc, 1, 2) in _TYPE_WORDS or _split_glued(x, cc)[1] for x in t)

    def strong_typed(t):
        return any(_canon_token(x, cc, 1, 2) in _STRONG_TYPES or _split_glued(x, cc)[1] in _STRONG_TYPES
                   for x in t)
    if cand and not any(typed(parsed[i]) for i in cand) and \
            any(strong_typed(t) and i not in cand for i, t in enumerate(parsed)):
        # "tindale street, villa 2": the numbered part is a secondary line, the typed part the street
        cand = []
    if cand:
        si = cand[0]
        # prefer a segment containing a street type word
        for i in cand:
            if typed(parsed[i]):
                si = i
                break
    else:
        def seg_score(t):
            sc = 0
            for k, x in enumerate(t):
                c = _canon_token(x, cc, k, len(t))
                if c in _STRONG_TYPES or (_split_glued(x, cc)[1] in _STRONG_TYPES):
                    sc = max(sc, 2)
                elif c in _TYPE_WORDS or _split_glued(x, cc)[1]:
                    sc = max(sc, 1)
            if any(x in _HOUSE_WORDS for x in t):
                sc -= 2
            if t and t[0] == "the":
                sc -= 1
            return sc
        scores = [(seg_score(t), i) for i, t in enumerate(parsed)]
        best_sc = max(scores)[0]
        si = [i for sc, i in scores if sc == best_sc][-1 if best_sc <= 0 else 0]
    hn_only_prefix = None
    house_name_parts = []
    street_has_num = has_num(parsed[si])
    for i, toks in enumerate(parsed):
        if i == si:
            continue
        if i < si and len(toks) == 1 and re.fullmatch(r"\d+[a-z]?", toks[0]):
            # French style "12, rue de la Paix"
            hn_only_prefix = toks[0]
            continue
        if has_num(toks) or (toks and toks[0] in _UNIT_WORDS):
            vals = [_SIDE_WORDS.get(t, t) for t in toks
                    if (t not in _UNIT_WORDS or t in _SIDE_WORDS or t == "st") and t not in ("#", "/", "-")]
            nums = [k for k, t in enumerate(vals) if re.fullmatch(r"\d+[a-z]?", t)]
            if not street_has_num and hn_only_prefix is None and len(nums) >= 2 and i < si:
                # "Unit 6 5, Third Court": the last number is the house number
                hn_only_prefix = vals[nums[-1]]
                vals = vals[: nums[-1]] + vals[nums[-1] + 1:]
            unit_toks += vals
        else:
            # house / building name (or a locality line)
            house_name_parts.append(" ".join(t for t in toks if t not in ("-", "/", "#", "the")))
    toks = parsed[si]
    if hn_only_prefix:
        toks = [hn_only_prefix] + toks
    # "Bell Cottage Coleman St": a house name glued in front of the street without a comma
    hw = [k for k, t in enumerate(toks) if t in _HOUSE_WORDS]
    if hw and hw[-1] + 2 < len(toks) and not any(re.match(r"\d", t) for t in toks[:hw[-1]]):
        house_name_parts.append(" ".join(toks[: hw[-1] + 1]))
        toks = toks[hw[-1] + 1:]

    # --- extract unit designators inside the street segment ("apt 4b", "# 5", "bus 3")
    out = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if (t in _UNIT_WORDS or t == "#") and t not in ("st", "th") and i + 1 < len(toks) \
                and re.fullmatch(r"[0-9]+[a-z]?|[a-z]|[0-9]+", toks[i + 1]) and (i > 0 or len(toks) > 3):
            # "no 12" / "nr 12" directly before a lone number is a house number label, not a unit
            if t in ("no", "nr", "num", "number", "hausnr") :
                i += 1
                continue
            unit_toks.append(toks[i + 1])
            i += 2
            continue
        if t == "st" and i + 1 < len(toks) and toks[i + 1] in ("tv", "th", "mf") and i > 0:
            unit_toks.append("st")
            i += 1
            continue
        if t in _SIDE_WORDS and i > 0 and (re.match(r"\d", toks[i - 1]) or toks[i - 1] in ("st", "kl")):
            unit_toks.append(_SIDE_WORDS[t])
            i += 1
            continue
        out.append(t)
        i += 1
    toks = out

    # --- locate the house number: first numeric token at start, else last numeric token
    num_idx = [k for k, t in enumerate(toks) if re.fullmatch(r"\d+[a-z]{0,2}", t)]
    hn = suffix = None
    street_toks = toks
    if num_idx:
        # an ordinal street name like "5th" was handled by regex: "5th" matches \d+[a-z]{0,2}
        def is_ordinal(t, k):
            return bool(_ORD_RE.match(t)) and k + 1 < len(toks) and re.fullmatch(r"[a-z]{2,}", toks[k + 1] or "")
        cands = [k for k in num_idx if not is_ordinal(toks[k], k)]
        if not cands:
            cands = num_idx
        # AU style "3/15 smith st" (unit/number) at start; "5/2" after name = number/unit (AT)
        k0 = cands[0]
        if k0 == 0 or (k0 <= 2 and all(x in ("#", "/", "-") or re.fullmatch(r"\d+[a-z]?", x) for x in toks[:k0])):
            k = k0
            # leading "3 / 15 smith" or "3-15 smith"? treat a/b at start as unit/number
            if k + 2 < len(toks) and toks[k + 1] == "/" and re.fullmatch(r"\d+[a-z]?", toks[k + 2]):
                unit_toks.append(toks[k])
                k = k + 2
            hn_tok = toks[k]
            rest = toks[k + 1:]
            prefix = toks[:k0]
            # "12 - 14 high st": range -> keep first number
            if len(rest) >= 2 and rest[0] == "-" and re.fullmatch(r"\d+[a-z]?", rest[1]):
                rest = rest[2:]
            if len(rest) >= 2 and rest[0] == "-" and re.fullmatch(r"[a-z]", rest[1]) and not re.search(r"[a-z]", hn_tok):
                hn_tok += rest[1]  # "11-a Pukweg"
                rest = rest[2:]
            # "12 a high street" / "12 bis rue"
            if rest and (rest[0] in ("bis", "ter", "quater") or (len(rest[0]) == 1 and rest[0].isalpha()
                                                                 and len(rest) > 2 and rest[0] not in "nsew")):
                hn_tok += rest[0]
                rest = rest[1:]
            street_toks = [t for t in prefix if t not in ("#", "/", "-")] and [] or []
            street_toks += rest
        else:
            # continental order: the house number is the first number of the trailing
            # block that follows the last word of the street name ("Kerkweg 12-2", "Str. 5/2/7")
            def is_word(t):
                return bool(re.fullmatch(r"[a-z]{3,}", t)) and t not in _UNIT_WORDS \
                    and t not in _ROMAN and t not in ("bis", "ter", "quater")
            k = cands[-1]
            for c in cands:
                if any(is_word(t) for t in toks[:c]) and not any(is_word(t) for t in toks[c + 1:]):
                    k = c
                    break
            if cc in ("AU", "NZ") and k + 2 < len(toks) and toks[k + 1] == "/" \
                    and re.fullmatch(r"\d+[a-z]?", toks[k + 2]) and k + 3 == len(toks):
                # Australian "Riggs Street 1/7" = unit 1 / number 7
                unit_toks.append(toks[k])
                toks = toks[:k] + [toks[k + 2]]
            hn_tok = toks[k]
            before = toks[:k]
            after = toks[k + 1:]
            street_toks = before
            # the street name may continue after the number only if it's the English order
            # with unit; everything after the number is suffix/unit material
            j = 0
            if after and (after[0] in ("bis", "ter", "quater") or (len(after[0]) <= 2 and after[0].isalpha()
                                                                   and after[0] not in _UNIT_WORDS)):
                if not re.search(r"[a-z]", hn_tok):
                    hn_tok += after[0]
                    j = 1
                elif after[0] in _ROMAN:
                    pass
            extra = [t for t in after[j:] if t not in ("-", "/", "#")]
            extra = [_ROMAN.get(t, t) for t in extra]
            # drop trailing words that look like a street continuation (rare)
            unit_toks += [t for t in extra if not re.fullmatch(r"[a-z]{4,}", t)]
            street_toks = [t for t in street_toks if t not in ("#",)]
            # trailing "/" or "-" just before number
            while street_toks and street_toks[-1] in ("-", "/", "no", "nr", "hausnr"):
                street_toks = street_toks[:-1]
        m = re.fullmatch(r"(\d+)([a-z]{0,4})", hn_tok)
        hn = str(int(m.group(1))) if m else hn_tok
        suffix = (m.group(2) or None) if m else None
        if suffix and suffix not in ("bis", "ter", "quater") and len(suffix) > 1:
            # "12th"?  was an ordinal; treat as no suffix
            if _ORD_RE.match(hn_tok):
                suffix = None
            else:
                suffix = suffix[0]
    street_toks = [t for t in street_toks if t not in ("-", "/", "#")]
    # canonicalise tokens
    n = len(street_toks)
    canon = []
    for pos, t in enumerate(street_toks):
        c = _canon_token(t, cc, pos, n)
        canon.extend(c.split())
    unit_toks = [_ROMAN.get(t, t) for t in unit_toks if t not in ("-", "/", "#")]
    unit_toks = [str(int(t)) if t.isdigit() else t for t in unit_toks]
    house_name = " ".join(h for h in house_name_parts if h).strip() or None
    return canon, hn, suffix, unit_toks, house_name, pc_found, town_found


def street_parts(canon: list[str], cc: str | None = None):
    """-> (core_tokens, type) splitting off a street-type word (suffix or French-style prefix)."""
    toks = list(canon)
    typ = None
    if toks and toks[-1] in _TYPE_WORDS and len(toks) > 1:
        typ = toks[-1]
        toks = toks[:-1]
    elif toks and toks[0] in _FRENCH_PREFIX_TYPES and len(toks) > 1:
        typ = toks[0]
        toks = toks[1:]
    elif toks:
        base, t = _split_glued(toks[-1], cc)
        if t:
            typ = t
            toks = toks[:-1] + [_canon_token(base, cc, len(toks) - 1, len(toks) + 1)]
        elif len(toks) > 1:
            ft = _fuzzy_type(toks[-1])
            if ft:
                typ = ft
                toks = toks[:-1]
            elif _fuzzy_type(toks[0]) in _FRENCH_PREFIX_TYPES:
                typ = _fuzzy_type(toks[0])
                toks = toks[1:]
    # split off a glued type when a type word was also given separately ("kerk straat")
    return toks, typ


# --------------------------------------------------------------------------
# postcode / city
# --------------------------------------------------------------------------
_PC_PREFIX = re.compile(r"^(?:[a-z]{1,3})\s*-\s*(?=\d)")


@lru_cache(maxsize=500000)
def norm_postcode(raw: str | None, cc: str | None) -> tuple[str | None, str | None]:
    """-> (postcode key, coarse key)."""
    if not raw:
        return None, None
    s = fold(raw).strip()
    s = _PC_PREFIX.sub("", s)  # "D-10115", "NL-1234 AB", "CH-8000"
    s = re.sub(r"^(?:nl|de|be|at|ch|dk|fr|lu|us|gb|au)\s+(?=\d)", "", s)
    if cc in ("DE", "FR", "AT", "CH", "BE", "DK", "AU", "US", "LU", "NO", "SE"):
        # state / country letters around a numeric code: "WA 6646", "4588 QLD", "DK8801", "CA 90210"
        s = re.sub(r"^[a-z]{1,3}\s*-?\s*(?=\d)", "", s)
        s = re.sub(r"(?<=\d)\s*[a-z]{2,3}$", "", s)
    s = re.sub(r"[^a-z0-9]", "", s).upper()
    if not s:
        return None, None
    if cc == "US":
        d = re.sub(r"\D", "", s)
        if len(d) in (9,):
            d = d[:5]
        if 3 <= len(d) < 5:
            d = d.zfill(5)
        s = d[:5] if d else s
        return s, s[:3]
    if cc in ("DE", "FR") and s.isdigit() and len(s) == 4:
        s = s.zfill(5)
    if cc == "NL":
        return s, s[:4]
    if cc == "GB" and len(s) >= 5:
        return s, s[:-3]
    if cc in ("AT", "CH", "BE", "DK", "AU", "LU", "NO"):
        return s, s[:2]
    return s, s[:3]


_CITY_ALIASES = {
    # exonyms / endonyms / alternative official names, folded to ASCII
    "munich": "munchen", "muenchen": "munchen", "cologne": "koln", "koeln": "koln",
    "nuremberg": "nurnberg", "nuernberg": "nurnberg", "hanover": "hannover", "brunswick": "braunschweig",
    "frankfurt am main": "frankfurt", "frankfurt a m": "frankfurt", "frankfurt main": "frankfurt",
    "frankfurt m": "frankfurt", "aix la chapelle": "aachen", "treves": "trier", "mayence": "mainz",
    "the hague": "den haag", "s gravenhage": "den haag", "s-gravenhage": "den haag", "la haye": "den haag",
    "s hertogenbosch": "den bosch", "hertogenbosch": "den bosch", "bois le duc": "den bosch",
    "vienna": "wien", "vienne": "wien", "geneva": "geneve", "genf": "geneve", "ginevra": "geneve",
    "zuerich": "zurich", "berne": "bern", "lucerne": "luzern", "basle": "basel", "bale": "basel",
    "brussels": "brussel", "bruxelles": "brussel", "brussel": "brussel", "antwerp": "antwerpen",
    "anvers": "antwerpen", "ghent": "gent", "gand": "gent", "bruges": "brugge", "liege": "luik",
    "louvain": "leuven", "malines": "mechelen", "mons": "bergen", "namen": "namur", "courtrai": "kortrijk",
    "copenhagen": "kobenhavn", "koebenhavn": "kobenhavn", "kopenhagen": "kobenhavn",
    "elsinore": "helsingor", "helsingoer": "helsingor", "arhus": "aarhus", "aarhus c": "aarhus",
    "lyons": "lyon", "marseilles": "marseille", "dunkirk": "dunkerque",
    "new york city": "new york", "nyc": "new york", "ny": "new york", "la": "los angeles",
    "sf": "san francisco", "washington dc": "washington", "washington d c": "washington",
    "st louis": "saint louis", "st paul": "saint paul", "ft worth": "fort worth",
    "ft lauderdale": "fort lauderdale", "mt pleasant": "mount pleasant",
}


@lru_cache(maxsize=200000)
def norm_city(raw: str | None) -> str | None:
    if not raw:
        return None
    s = fold(raw)
    s = re.sub(r"\(.*?\)", " ", s)
    s = re.sub(r"[^a-z0-9]+", " ", s).strip()
    s = re.sub(r"^(city|town|village|borough) of ", "", s)
    s = re.sub(r"\s+", " ", s)
    if not s:
        return None
    if s in _CITY_ALIASES:
        return _CITY_ALIASES[s]
    toks = s.split()
    toks = ["saint" if t in ("st", "saint", "sankt", "skt", "sint") else
            "sainte" if t == "ste" else "fort" if t == "ft" else "mount" if t == "mt" else t for t in toks]
    s = " ".join(toks)
    return _CITY_ALIASES.get(s, s)


_PC_IN_CITY = re.compile(r"^\s*((?:[A-Za-z]{1,2}-)?\d{4,5}(?:\s?[A-Za-z]{2})?(?:-\d{4})?)\s+(.+)$")
_PC_AFTER_CITY = re.compile(r"^(.+?)[\s,]+((?:[A-Za-z]{2}\s+)?\d{4,5}(?:-\d{4})?)\s*$")


def standardise(street, postal_code, city, country) -> dict:
    cc = country_iso(country) if country else None
    pc_raw = postal_code or None
    city_raw = city or None
    # postcode typed into the city field ("1012 AB Amsterdam", "Springfield, IL 62704")
    if city_raw and not pc_raw:
        m = _PC_IN_CITY.match(city_raw)
        if m:
            pc_raw, city_raw = m.group(1), m.group(2)
        else:
            m = _PC_AFTER_CITY.match(city_raw)
            if m:
                city_raw, pc_raw = m.group(1), m.group(2)
    if city_raw and cc == "US":
        # drop a trailing two-letter state code ("Springfield IL")
        city_raw = re.sub(r"[\s,]+[A-Za-z]{2}$", "", city_raw.strip()) or city_raw
    if city_raw and cc == "AU":
        city_raw = re.sub(r"(?i)[\s,]+(nsw|vic|qld|wa|sa|tas|act|nt)$", "", city_raw.strip()) or city_raw
    canon, hn, suffix, unit, house_name, pc_in_street, town_in_street = parse_street(street, cc, pc_raw, city_raw)
    if not pc_raw and pc_in_street:
        pc_raw = pc_in_street
    if not city_raw and town_in_street:
        city_raw = town_in_street
    core, typ = street_parts(canon, cc)
    core = [t for t in core if t]
    core_str = " ".join(core) or None
    core_sig = [t for t in core if t not in _STOP] or core
    compact = phon_fold("".join(core_sig)) or None
    pc, pc_coarse = norm_postcode(pc_raw, cc)
    city_n = norm_city(city_raw)
    first = core_sig[0] if core_sig else ""
    sub = " ".join(sorted(set(([suffix] if suffix else []) + unit))) or None
    hname = None
    if house_name:
        ht = [t for t in re.findall(r"[a-z0-9]+", house_name) if t not in _STOP]
        hname = phon_fold("".join(ht)) or None
    snum = "".join(re.findall(r"\d+", core_str or "")) or None
    return {
        "street_num": snum,
        "house_name": hname,
        "street_core": core_str,
        "street_type": typ,
        "street_full": " ".join(canon) or None,
        "street_compact": compact,
        "street_tokens": sorted(set(phon_fold(t) for t in core_sig)) if core_sig else None,
        "street_key": (compact or "")[:4] or None,
        "street_sdx": soundex(phon_fold("".join(core_sig))) or None,
        "street_first_sdx": soundex(first) or None,
        "hn": hn,
        "hn_suffix": suffix,
        "sub": sub,
        "pc": pc,
        "pc_coarse": pc_coarse,
        "city": city_n,
        "city_sdx": soundex(phon_fold((city_n or "").replace(" ", ""))) or None,
        "country": cc,
    }


if __name__ == "__main__":
    import sys
    tests = [
        ("Kerkstraat 12", "1234 AB", "Amsterdam", "NL"),
        ("Kerk straat 12a", "1234ab", "A'dam", "Netherlands"),
        ("Kerkweg 12-2", "", "Den Haag", "Holland"),
        ("14 East River Street", "02134-1234", "Boston", "USA"),
        ("14 E River St Apt 4B", "2134", "Boston MA", "United States of America"),
        ("Flat 2, 5 Church Lane", "SW1A 1AA", "London", "United Kingdom"),
        ("Rose Cottage, 5 Church Ln", "sw1a1aa", "London", "England"),
        ("Hauptstraße 5", "D-10115", "Berlin", "Deutschland"),
        ("Hauptstr. 5b", "10115", "Berlin", "Germany"),
        ("Haupt Strasse 5 B", "10115", "Berlin", "DEU"),
        ("12 bis rue de la Paix", "75002", "Paris", "France"),
        ("12, Rue de la Paix", "F-75002", "Paris", "FR"),
        ("Mariahilfer Straße 5/2/7", "1060", "Wien", "Österreich"),
        ("3/15 Smith St", "2000", "Sydney", "Australia"),
        ("Unit 3, 15 Smith Street", "2000", "Sydney NSW", "AU"),
        ("Vesterbrogade 12, 3. tv", "1620", "København V", "Danmark"),
        ("Fifth Avenue 725", "10022", "New York", "US"),
        ("725 5th Ave", "10022", "NYC", "US"),
        ("Rue Neuve 12 bus 3", "1000", "Bruxelles", "Belgique"),
        ("Bahnhofstrasse 1", "8001", "Zürich", "Schweiz"),
        ("St. Johns Road 5", "", "St. Albans", "UK"),
        ("123 Main St #4", "62704", "Springfield, IL", "US"),
    ]
    for t in tests:
        print(t, "\n   ", standardise(*t))
