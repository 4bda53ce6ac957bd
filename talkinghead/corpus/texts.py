"""Varied sentences for the synthetic corpus, from small word lists and templates we wrote.

Why not a text dump: we need no downloads, a fixed licence, and control over what the mouth
does. The lists lean on bilabials (p, b, m: the lips must close), rounded vowels (o, u: the lips
must pucker) and open vowels (a: the jaw must drop), because those are the visemes a lip-sync
model gets judged on. Sentence kinds: statements, questions, numbers (spelled out and as
digits), dates, lists, introductions with names, and short tongue twisters, in English, German,
French, Spanish and Mandarin.

Everything is drawn from a numpy Generator, so `make_text(np.random.default_rng([seed, i]))`
is the same sentence on every machine and in every worker process.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

LANGUAGES = ("en", "de", "fr", "es", "zh")
KINDS = ("statement", "question", "number", "date", "list", "name", "twister")
_KIND_WEIGHTS = (0.26, 0.22, 0.14, 0.1, 0.1, 0.1, 0.08)


@dataclass(frozen=True)
class Text:
    text: str
    language: str  # one of LANGUAGES
    kind: str      # one of KINDS (the first sentence's kind when there are two)


# -- numbers -------------------------------------------------------------------------------------

_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_DE_ONES = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
            "fünfzehn sechzehn siebzehn achtzehn neunzehn").split()
_DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
_FR_ONES = ("zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze "
            "seize").split()
_FR_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante", 8: "quatre-vingt"}
_ES_ONES = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
            "dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés "
            "veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve").split()
_ES_TENS = "_ _ _ treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_ES_HUNDREDS = ("_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos "
                "ochocientos novecientos").split()
_ZH_DIGITS = "零一二三四五六七八九"
MAX_NUMBER = 999_999


def number_words(n: int, language: str) -> str:
    """`n` (0..999999) written out in words, as a native speaker would say it."""
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number_words covers 0..{MAX_NUMBER}, got {n}")
    return {"en": _en, "de": _de, "fr": _fr, "es": _es, "zh": _zh}[language](int(n))


def _en(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + (f"-{_EN_ONES[n % 10]}" if n % 10 else "")
    if n < 1000:
        return f"{_EN_ONES[n // 100]} hundred" + (f" {_en(n % 100)}" if n % 100 else "")
    return f"{_en(n // 1000)} thousand" + (f" {_en(n % 1000)}" if n % 1000 else "")


def _de(n: int, alone: bool = True) -> str:
    """German numbers are one word; 1 is "eins" alone but "ein" inside a compound."""
    if n < 20:
        return "ein" if n == 1 and not alone else _DE_ONES[n]
    if n < 100:
        unit = n % 10
        return (("ein" if unit == 1 else _DE_ONES[unit]) + "und" if unit else "") + _DE_TENS[n // 10]
    if n < 1000:
        return _de(n // 100, alone=False) + "hundert" + (_de(n % 100) if n % 100 else "")
    return _de(n // 1000, alone=False) + "tausend" + (_de(n % 1000) if n % 1000 else "")


def _fr(n: int) -> str:
    """French: 70 = 60 + 10, 80 = 4 x 20, 90 = 4 x 20 + 10; "et" only before un/onze below 80."""
    if n < 17:
        return _FR_ONES[n]
    if n < 20:
        return "dix-" + _FR_ONES[n - 10]
    if n < 100:
        tens, unit = divmod(n, 10)
        if tens in (7, 9):
            tens, unit = tens - 1, unit + 10
        word = _FR_TENS[tens]
        if unit == 0:
            return word + ("s" if tens == 8 else "")
        if unit in (1, 11) and tens != 8:
            return f"{word} et {_FR_ONES[unit]}"
        return f"{word}-{_fr(unit)}"
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{_FR_ONES[hundreds]} cent" + ("" if rest else "s")
        return head + (f" {_fr(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else _fr(thousands).removesuffix("s") + " mille"
    return head + (f" {_fr(rest)}" if rest else "")


def _es(n: int) -> str:
    if n < 30:
        return _ES_ONES[n]
    if n < 100:
        return _ES_TENS[n // 10] + (f" y {_ES_ONES[n % 10]}" if n % 10 else "")
    if n < 1000:
        if n == 100:
            return "cien"
        return _ES_HUNDREDS[n // 100] + (f" {_es(n % 100)}" if n % 100 else "")
    thousands, rest = divmod(n, 1000)
    head = "mil" if thousands == 1 else _apocope(_es(thousands)) + " mil"
    return head + (f" {_es(rest)}" if rest else "")


def _apocope(words: str) -> str:
    """"uno" shortens before a noun-like "mil": veintiuno -> veintiún, treinta y uno -> treinta y un."""
    if words.endswith("veintiuno"):
        return words[:-3] + "ún"
    return words[:-1] if words.endswith("uno") else words


def _zh(n: int) -> str:
    """Mandarin with 万/千/百/十, one 零 per gap of zeros, 十五 not 一十五, 两 for a leading 2 of 百/千."""
    if n >= 10000:
        high, rest = divmod(n, 10000)
        return _zh(high) + "万" + ("零" if 0 < rest < 1000 else "") + (_zh(rest) if rest else "")
    if n == 0:
        return "零"
    out, gap = "", False
    for digit, unit in zip((n // 1000, n // 100 % 10, n // 10 % 10, n % 10), "千百十 "):
        unit = unit.strip()
        if digit == 0:
            gap = gap or bool(out)
            continue
        if gap:
            out, gap = out + "零", False
        word = _ZH_DIGITS[digit]
        if not out and digit == 2 and unit in ("千", "百"):
            word = "两"
        if not out and digit == 1 and unit == "十":
            word = ""
        out += word + unit
    return out


def ordinal_words(n: int, language: str) -> str:
    """Day-of-month ordinals (1..31) where the language uses them in dates."""
    if language == "en":
        head, _, last = _en(n).rpartition("-")
        last = _EN_ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
        return f"{head}-{last}" if head else last
    if language == "de":  # dative, as in "am zwölften Mai"
        special = {1: "ersten", 3: "dritten", 7: "siebten", 8: "achten"}
        return special.get(n) or _de(n) + ("ten" if n < 20 else "sten")
    if language == "fr":
        return "premier" if n == 1 else _fr(n)
    return number_words(n, language)


_EN_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
               "nine": "ninth", "twelve": "twelfth"}


def year_words(year: int, language: str) -> str:
    """Years as spoken: "nineteen eighty-seven", "neunzehnhundertsiebenundachtzig", 一九八七."""
    if language == "en":
        high, low = divmod(year, 100)
        if 2000 <= year < 2010:
            return _en(year)
        return f"{_en(high)} " + ("hundred" if low == 0 else (f"oh {_en(low)}" if low < 10 else _en(low)))
    if language == "de" and 1100 <= year < 2000:
        return _de(year // 100) + "hundert" + (_de(year % 100) if year % 100 else "")
    if language == "zh":
        return "".join(_ZH_DIGITS[int(d)] for d in str(year))
    return number_words(year, language)


# -- word lists ----------------------------------------------------------------------------------
# Plural nouns carry a gender where articles or adjectives agree with it (m / f).

_LEX = {
    "en": dict(
        names="Bob Paula Maria Pablo Emma Tom Bruno Mona Ben Pam Omar Boris Olivia Peter Barbara "
              "Martha Paul Umar Bobby Maggie".split(),
        nouns=[(w, "") for w in "balloons bottles potatoes umbrellas bananas puppies mangoes boots "
               "spoons books pumpkins apples maps pebbles boats buttons mushrooms oranges pillows "
               "robots".split()],
        places=["at the market", "in the museum", "by the pool", "on the boat", "at the bakery",
                "in the park", "at the post office", "in Boston", "at the opera", "by the harbour",
                "in Bombay", "at the moon base"],
        verbs="bought found packed brought dropped painted borrowed moved opened counted".split(),
        adjectives=[(w, w) for w in "blue big purple warm smooth round soft tall brown bumpy".split()],
        cities="Boston Bombay Paris Madrid Berlin Beijing Toronto Melbourne Lima Oslo".split(),
        weekdays="Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
        months=("January February March April May June July August September October November "
                "December").split(),
        conj="and",
    ),
    "de": dict(
        names="Bernd Paula Moritz Mia Otto Brigitte Paul Ute Boris Marta Bruno Emma Hubert Mona "
              "Bärbel Thomas".split(),
        nouns=[(w, "") for w in "Ballons Flaschen Kartoffeln Bananen Birnen Bücher Puppen Boote "
               "Blumen Pilze Äpfel Knöpfe Pakete Brötchen Pflaumen Schuhe".split()],
        places=["auf dem Markt", "im Museum", "am Bahnhof", "in der Bäckerei", "im Park",
                "auf dem Boot", "in Bremen", "in München", "bei der Post", "am Brunnen"],
        verbs="gekauft gefunden gepackt gebracht bemalt geholt bestellt gezählt".split(),
        adjectives=[(w, w) for w in "blau braun bunt groß rund weich warm prima gut modern".split()],
        cities="Bremen München Bonn Hamburg Bern Potsdam Paderborn Mainz Bochum Ulm".split(),
        weekdays="Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
        months="Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
        conj="und",
    ),
    "fr": dict(
        names="Paul Marie Pierre Mathilde Bruno Pauline Benoît Margot Bob Mona Hugo Aurore "
              "Baptiste Manon".split(),
        nouns=[("ballons", "m"), ("bouteilles", "f"), ("pommes", "f"), ("bananes", "f"),
               ("poupées", "f"), ("bateaux", "m"), ("bonbons", "m"), ("boutons", "m"),
               ("paquets", "m"), ("parapluies", "m"), ("poires", "f"), ("bols", "m"),
               ("livres", "m"), ("poubelles", "f")],
        places=["au marché", "au musée", "à la boulangerie", "au bord de la mer", "à la poste",
                "dans le parc", "à Bordeaux", "à Paris", "sur le bateau", "à Lyon"],
        verbs="acheté trouvé apporté peint compté emballé commandé".split(),
        adjectives=[("bleus", "bleues"), ("beaux", "belles"), ("ronds", "rondes"), ("bruns", "brunes"),
                    ("petits", "petites"), ("grands", "grandes"), ("propres", "propres"),
                    ("rouges", "rouges"), ("bons", "bonnes"), ("mous", "molles")],
        cities="Bordeaux Paris Lyon Brest Montpellier Bruxelles Marseille Toulouse Pau Nantes".split(),
        weekdays="lundi mardi mercredi jeudi vendredi samedi dimanche".split(),
        months="janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
        conj="et",
    ),
    "es": dict(
        names="Pablo María Beto Paloma Manuel Bárbara Memo Lupe Bruno Marta Ramón Paula Tomás "
              "Amparo".split(),
        nouns=[("globos", "m"), ("botellas", "f"), ("patatas", "f"), ("plátanos", "m"),
               ("muñecas", "f"), ("barcos", "m"), ("botones", "m"), ("paquetes", "m"),
               ("paraguas", "m"), ("manzanas", "f"), ("libros", "m"), ("bombones", "m"),
               ("mangos", "m"), ("pelotas", "f")],
        places=["en el mercado", "en el museo", "en la panadería", "en la playa", "en el parque",
                "en Bogotá", "en Madrid", "en el barco", "en Panamá", "en Barcelona"],
        verbs="comprado encontrado traído pintado contado empacado pedido".split(),
        adjectives=[("azules", "azules"), ("bonitos", "bonitas"), ("redondos", "redondas"),
                    ("blandos", "blandas"), ("marrones", "marrones"), ("pequeños", "pequeñas"),
                    ("grandes", "grandes"), ("buenos", "buenas"), ("rojos", "rojas"),
                    ("baratos", "baratas")],
        cities="Bogotá Madrid Panamá Barcelona Lima Bilbao Montevideo Puebla Málaga Mendoza".split(),
        weekdays="lunes martes miércoles jueves viernes sábado domingo".split(),
        months="enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
               "diciembre".split(),
        conj="y",
    ),
    "zh": dict(
        names="王明 李华 张伟 刘波 陈美 马丽 杨帆 赵宝 孙梅 白雪 毛毛 包小文".split(),
        nouns=[("苹果", "个"), ("面包", "个"), ("葡萄", "串"), ("包子", "个"), ("杯子", "个"),
               ("盘子", "个"), ("书", "本"), ("帽子", "顶"), ("布娃娃", "个"), ("皮球", "个"),
               ("馒头", "个"), ("雨伞", "把"), ("萝卜", "根"), ("木瓜", "个")],
        places=["在市场", "在博物馆", "在公园", "在北京", "在码头", "在面包店", "在邮局",
                "在宝马店", "在海边", "在上海"],
        verbs="买了 拿了 找到了 搬了 带来了 摆好了 包好了".split(),
        adjectives=[(w, w) for w in "很漂亮 很便宜 很饱满 很甜 很软 很大 很好".split()],
        cities="北京 上海 广州 包头 保定 宝鸡 武汉 莫斯科 巴黎 孟买".split(),
        weekdays="一 二 三 四 五 六 天".split(),
        months=[],
        conj="和",
    ),
}

_TWISTERS = {
    "en": ["Big brown bears bob up and down by the blue pool.",
           "Bobby bought a bucket of bubbly pop for Pam's party.",
           "My mum made a marvellous mango pudding in the morning.",
           "Pale pink poppies pop up by the open porch.",
           "Paula's puppy moved more pebbles than both boys."],
    "de": ["Blaukraut bleibt Blaukraut und Brautkleid bleibt Brautkleid.",
           "Bei Bäcker Braun backen Bauern bunte Brote.",
           "Mama mampft am Morgen Pflaumenmus mit Butter.",
           "Otto holt Obst vom Boot am Bodensee."],
    "fr": ["Bébé boit du bon bouillon au bord du bateau.",
           "Papa pompe la pompe du bateau bleu.",
           "Maman met du beurre au bout du pain brûlé.",
           "Pauline a pu poser le pot de pommes sur le mur."],
    "es": ["Pablito clavó un clavito, ¿qué clavito clavó Pablito?",
           "Mamá mima a Memo, Memo ama a mamá.",
           "Bárbara baila bajo la bóveda blanca.",
           "Paco pinta un barco bonito para Paloma."],
    "zh": ["八百标兵奔北坡，炮兵并排北边跑。",
           "妈妈骑马，马慢，妈妈骂马。",
           "白猫摸白帽，白帽抱白猫。",
           "爸爸买了五个大木瓜。"],
}


# -- slots ---------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _count(rng: np.random.Generator) -> int:
    """2..199, avoiding numbers ending in 1 (they agree in gender in French and Spanish)."""
    while True:
        n = int(rng.choice([rng.integers(2, 13), rng.integers(13, 100), rng.integers(100, 200)]))
        if n % 10 != 1 or n % 100 == 11:
            return n


def _number(rng: np.random.Generator, n: int, language: str, spelled: bool) -> str:
    return number_words(n, language) if spelled else str(n)


def _date(rng: np.random.Generator, language: str, spelled: bool) -> str:
    lex = _LEX[language]
    year, month, day = int(rng.integers(1950, 2031)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    if language == "zh":
        if not spelled:
            return f"{year}年{month}月{day}日"
        return f"{year_words(year, 'zh')}年{_zh(month)}月{_zh(day)}日"
    name = lex["months"][month - 1]
    y = year_words(year, language) if spelled else str(year)
    if language == "en":
        return f"the {ordinal_words(day, 'en')} of {name}, {y}" if spelled else f"{name} {day}, {year}"
    if language == "de":
        return f"{ordinal_words(day, 'de')} {name} {y}" if spelled else f"{day}. {name} {year}"
    d = ordinal_words(day, language) if spelled else str(day)
    return f"{d} {name} {y}" if language == "fr" else f"{d} de {name} de {y}"


def _phone_number(rng: np.random.Generator, language: str, spelled: bool) -> str:
    digits = [int(d) for d in rng.integers(0, 10, size=7)]
    if not spelled:
        return "".join(map(str, digits[:3])) + " " + "".join(map(str, digits[3:]))
    sep = "" if language == "zh" else " "
    words = [number_words(d, language) for d in digits]
    return sep.join(words[:3]) + ("，" if language == "zh" else ", ") + sep.join(words[3:])


def _listing(rng: np.random.Generator, language: str) -> str:
    lex = _LEX[language]
    n = int(rng.integers(3, 6))
    picks = [lex["nouns"][i] for i in rng.choice(len(lex["nouns"]), size=n, replace=False)]
    if language == "fr":
        words = [f"des {w}" for w, _ in picks]
    elif language == "zh":
        return "、".join(w for w, _ in picks[:-1]) + "和" + picks[-1][0]
    else:
        words = [w for w, _ in picks]
    return ", ".join(words[:-1]) + f" {lex['conj']} " + words[-1]


def _slots(rng: np.random.Generator, language: str) -> dict[str, str]:
    """Every slot a template of `language` may use, drawn once per sentence."""
    lex = _LEX[language]
    two_names = rng.choice(len(lex["names"]), size=2, replace=False)
    two_nouns = rng.choice(len(lex["nouns"]), size=2, replace=False)
    (noun, gender), (noun2, gender2) = (lex["nouns"][i] for i in two_nouns)
    adj, adj2 = _pick(rng, lex["adjectives"]), _pick(rng, lex["adjectives"])
    spelled = bool(rng.random() < 0.5)
    a, b = _count(rng), _count(rng)
    return {
        "name": lex["names"][two_names[0]], "name2": lex["names"][two_names[1]],
        "noun": noun, "noun2": noun2, "cl": gender, "cl2": gender2,
        "adj": adj[gender == "f"], "adj2": adj2[gender2 == "f"],
        "art": _article(language, gender), "art2": _article(language, gender2),
        "many": "cuántas" if gender == "f" else "cuántos",
        "place": _pick(rng, lex["places"]), "verb": _pick(rng, lex["verbs"]),
        "city": _pick(rng, lex["cities"]), "weekday": _pick(rng, lex["weekdays"]),
        "num": _number(rng, a, language, spelled), "num2": _number(rng, b, language, spelled),
        "sum": _number(rng, a + b, language, spelled), "zhnum": _zh(a) if spelled else str(a),
        "date": _date(rng, language, spelled), "phone": _phone_number(rng, language, spelled),
        "list": _listing(rng, language),
        "price": _number(rng, int(rng.integers(2, 100)), language, spelled),
        "cents": _number(rng, int(rng.integers(10, 100)), language, spelled),
    }


def _article(language: str, gender: str) -> str:
    return {"es": {"m": "los", "f": "las"}}.get(language, {}).get(gender, "")


# -- templates -----------------------------------------------------------------------------------

_TEMPLATES: dict[str, dict[str, list[str]]] = {
    "en": {
        "statement": ["{name} {verb} {num} {noun} {place}.",
                      "{name} and {name2} met {place} on {weekday}.",
                      "The {noun} are {adj}, but the {noun2} are {adj2}.",
                      "My mother put the {noun} in a brown box by the window.",
                      "Please open the box and pass me the {noun}.",
                      "We moved all the {noun} {place} before noon."],
        "question": ["Did {name} buy the {noun} {place}?",
                     "How many {noun} did {name} bring?",
                     "Where are the {noun}, {name}?",
                     "Do you want {num} {noun} or only a few?",
                     "Why is {name} {place} so early?",
                     "Who moved my {noun} on {weekday}?"],
        "number": ["The number is {num}.", "Call me at {phone}.",
                   "It costs {price} dollars and {cents} cents.", "{num} plus {num2} makes {sum}."],
        "date": ["{name} was born on {date}.", "The meeting is on {weekday}, {date}."],
        "list": ["We need {list}.", "Please bring {list}."],
        "name": ["My name is {name}, and this is {name2}.", "Hello, I am {name} from {city}."],
    },
    "de": {
        "statement": ["{name} hat {place} {num} {noun} {verb}.",
                      "{name} und {name2} treffen sich am {weekday} {place}.",
                      "Die {noun} sind {adj}, aber die {noun2} sind {adj2}.",
                      "Meine Mutter packt die {noun} in eine braune Box.",
                      "Bitte mach die Box auf und gib mir die {noun}."],
        "question": ["Hat {name} die {noun} {place} {verb}?",
                     "Wie viele {noun} hat {name} {verb}?",
                     "Wo sind die {noun}, {name}?",
                     "Möchtest du {num} {noun} oder nur wenige?",
                     "Warum ist {name} so früh {place}?"],
        "number": ["Die Nummer ist {num}.", "Ruf mich an unter {phone}.",
                   "Das kostet {price} Euro und {cents} Cent.", "{num} plus {num2} macht {sum}."],
        "date": ["{name} ist am {date} geboren.", "Das Treffen ist am {weekday}, dem {date}."],
        "list": ["Wir brauchen {list}.", "Bitte bring {list} mit."],
        "name": ["Ich heiße {name}, und das ist {name2}.", "Hallo, ich bin {name} aus {city}."],
    },
    "fr": {
        "statement": ["{name} a {verb} {num} {noun} {place}.",
                      "{name} et {name2} se retrouvent {place} {weekday}.",
                      "Les {noun} sont {adj}, mais les {noun2} sont {adj2}.",
                      "Maman met les {noun} dans une boîte bleue.",
                      "Ouvre la boîte et passe-moi les {noun}, s'il te plaît."],
        "question": ["Est-ce que {name} a {verb} les {noun} {place} ?",
                     "Combien de {noun} est-ce que {name} a {verb} ?",
                     "Où sont les {noun}, {name} ?",
                     "Tu veux {num} {noun} ou un peu moins ?",
                     "Pourquoi {name} est {place} si tôt ?"],
        "number": ["Le numéro est {num}.", "Appelle-moi au {phone}.",
                   "Ça coûte {price} euros et {cents} centimes.", "{num} plus {num2} font {sum}."],
        "date": ["L'anniversaire de {name} est le {date}.", "La réunion est le {weekday} {date}."],
        "list": ["Il nous faut {list}.", "Apporte {list}, s'il te plaît."],
        "name": ["Je m'appelle {name}, et voici {name2}.", "Bonjour, je suis {name} et j'habite à {city}."],
    },
    "es": {
        "statement": ["{name} ha {verb} {num} {noun} {place}.",
                      "{name} y {name2} se ven el {weekday} {place}.",
                      "{Art} {noun} son {adj}, pero {art2} {noun2} son {adj2}.",
                      "Mamá mete {art} {noun} en una bolsa blanca.",
                      "Abre la caja y pásame {art} {noun}, por favor."],
        "question": ["¿{name} ha {verb} {art} {noun} {place}?",
                     "¿{Many} {noun} ha {verb} {name}?",
                     "¿Dónde están {art} {noun}, {name}?",
                     "¿Quieres {num} {noun} o menos?",
                     "¿Por qué está {name} {place} tan temprano?"],
        "number": ["El número es {num}.", "Llámame al {phone}.",
                   "Cuesta {price} euros y {cents} céntimos.", "{num} más {num2} son {sum}."],
        "date": ["{name} nació el {date}.", "La reunión es el {weekday} {date}."],
        "list": ["Necesitamos {list}.", "Por favor, trae {list}."],
        "name": ["Me llamo {name}, y te presento a {name2}.", "Hola, soy {name} de {city}."],
    },
    "zh": {
        "statement": ["{name}{place}{verb}{zhnum}{cl}{noun}。",
                      "{name}和{name2}星期{weekday}{place}见面。",
                      "这些{noun}{adj}，那些{noun2}{adj2}。",
                      "妈妈把{noun}放在白色的盒子里。",
                      "请打开盒子，把{noun}给我。"],
        "question": ["{name}{place}买{noun}了吗？",
                     "{name}{verb}几{cl}{noun}？",
                     "{noun}在哪儿，{name}？",
                     "你要{zhnum}{cl}{noun}吗？",
                     "{name}为什么这么早{place}？"],
        "number": ["这个号码是{num}。", "请打{phone}找我。",
                   "一共{price}块{cents}分。", "{num}加{num2}等于{sum}。"],
        "date": ["{name}的生日是{date}。", "会议在{date}，星期{weekday}。"],
        "list": ["我们需要{list}。", "请带{list}来。"],
        "name": ["我叫{name}，这是{name2}。", "你好，我是从{city}来的{name}。"],
    },
}


def _fill(template: str, slots: dict[str, str]) -> str:
    """Format a template; a capitalised slot ({Art}) capitalises its value."""
    caps = {k[0].upper() + k[1:]: v[:1].upper() + v[1:] for k, v in slots.items() if v}
    text = template.format(**slots, **caps)
    return text[:1].upper() + text[1:]


def sentence(rng: np.random.Generator, language: str, kind: str) -> str:
    """One sentence of `kind` in `language`."""
    if language not in LANGUAGES:
        raise ValueError(f"no texts for language {language!r}; have {', '.join(LANGUAGES)}")
    if kind == "twister":
        return _pick(rng, _TWISTERS[language])
    return _fill(_pick(rng, _TEMPLATES[language][kind]), _slots(rng, language))


def make_text(rng: np.random.Generator, language: str | None = None,
              languages: tuple[str, ...] = LANGUAGES, two_sentences: float = 0.3) -> Text:
    """A random utterance: one sentence, or two with probability `two_sentences`."""
    language = language or _pick(rng, list(languages))
    kinds = [str(k) for k in rng.choice(KINDS, size=2, p=_KIND_WEIGHTS)]
    parts = [sentence(rng, language, kinds[0])]
    if rng.random() < two_sentences:
        parts.append(sentence(rng, language, kinds[1]))
    return Text(("" if language == "zh" else " ").join(parts), language, kinds[0])


def generate_texts(n: int, seed: int = 0, languages: tuple[str, ...] = LANGUAGES) -> list[Text]:
    """`n` utterances, text i drawn from its own stream [seed, i] (so any subset is reproducible)."""
    return [make_text(np.random.default_rng([seed, i]), languages=languages) for i in range(n)]

