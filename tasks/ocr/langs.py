"""The languages of the synthetic multilingual set: their scripts, fonts (Debian's Noto packages), Tesseract
language packs, writing direction and a vocabulary of sign / shop-front words (E-ARMOR's images are
real-world scenes: signs, menus, labels).

Fonts come from ``fonts-noto-core`` and ``fonts-noto-cjk`` (``make fonts`` installs them); a missing font is
a clear error naming the file and the package, never a silent fallback to a font without the glyphs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FONT_DIRS = [Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto")]


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str
    script: str
    tesseract: str  # Tesseract language pack
    fonts: tuple[tuple[str, int], ...]  # (file name, face index in a collection)
    words: tuple[str, ...]
    rtl: bool = False
    cased: bool = False  # has upper/lower case (the renderer also draws UPPER and Title forms)


LATIN = (("NotoSans-Regular.ttf", 0), ("NotoSans-Bold.ttf", 0), ("NotoSerif-Regular.ttf", 0))
CJK = "NotoSansCJK-Regular.ttc"  # faces: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in [
    Language("en", "English", "Latin", "eng", LATIN, (
        "open", "closed", "exit", "entrance", "coffee", "market", "station", "street", "parking", "welcome",
        "sale", "price", "hotel", "bank", "pharmacy", "school", "bus", "train", "water", "free", "today",
        "menu", "bread", "fresh", "north", "river", "garden", "city", "center", "airport"), cased=True),
    Language("de", "German", "Latin", "deu", LATIN, (
        "Ausgang", "Eingang", "Straße", "Bahnhof", "geöffnet", "Bäckerei", "Apotheke", "Größe", "Brücke",
        "Markt", "willkommen", "heute", "Wasser", "Frühstück", "Stadt", "Schule", "Zug", "Kaffee", "Preis",
        "Zimmer", "Käse", "grün", "Übersicht", "Hafen", "Tür"), cased=True),
    Language("fr", "French", "Latin", "fra", LATIN, (
        "sortie", "entrée", "gare", "boulangerie", "pharmacie", "fermé", "ouvert", "marché", "café", "hôtel",
        "rue", "école", "été", "français", "bienvenue", "prix", "eau", "château", "forêt", "garçon", "déjà",
        "où", "très", "noël", "pâtisserie"), cased=True),
    Language("es", "Spanish", "Latin", "spa", LATIN, (
        "salida", "entrada", "calle", "farmacia", "panadería", "abierto", "cerrado", "mañana", "niño",
        "estación", "señor", "café", "precio", "agua", "ciudad", "corazón", "jardín", "aeropuerto",
        "bienvenido", "año", "música", "plaza", "tienda", "pequeño", "árbol"), cased=True),
    Language("ru", "Russian", "Cyrillic", "rus", LATIN, (
        "выход", "вход", "улица", "аптека", "магазин", "вокзал", "открыто", "закрыто", "хлеб", "молоко",
        "кафе", "школа", "город", "метро", "цена", "вода", "добро", "пожаловать", "площадь", "книга", "парк",
        "музей", "театр", "почта", "больница"), cased=True),
    Language("el", "Greek", "Greek", "ell", LATIN, (
        "έξοδος", "είσοδος", "οδός", "φαρμακείο", "αρτοποιείο", "ανοιχτό", "κλειστό", "σταθμός", "καφές",
        "τιμή", "νερό", "πόλη", "σχολείο", "θάλασσα", "ήλιος", "καλημέρα", "ευχαριστώ", "λεωφόρος", "αγορά",
        "μουσείο", "πλατεία", "ξενοδοχείο", "ταβέρνα", "βιβλίο", "λιμάνι")),
    Language("ar", "Arabic", "Arabic", "ara", (("NotoSansArabic-Regular.ttf", 0), ("NotoSansArabic-Bold.ttf", 0)), (
        "مخرج", "مدخل", "شارع", "صيدلية", "مخبز", "مفتوح", "مغلق", "محطة", "قهوة", "سعر", "ماء", "مدينة",
        "مدرسة", "مرحبا", "سوق", "فندق", "مطار", "مستشفى", "بنك", "مطعم", "كتاب", "حديقة", "شكرا", "بحر",
        "شمس"), rtl=True),
    Language("hi", "Hindi", "Devanagari", "hin",
             (("NotoSansDevanagari-Regular.ttf", 0), ("NotoSansDevanagari-Bold.ttf", 0)), (
        "निकास", "प्रवेश", "सड़क", "दवाखाना", "बाज़ार", "खुला", "बंद", "स्टेशन", "चाय", "कीमत", "पानी", "शहर",
        "विद्यालय", "स्वागत", "होटल", "हवाई", "अड्डा", "अस्पताल", "बैंक", "भोजन", "किताब", "बगीचा",
        "धन्यवाद", "नदी", "सूरज")),
    Language("zh", "Chinese", "Han", "chi_sim", ((CJK, 2),), (
        "出口", "入口", "街道", "药店", "面包店", "营业中", "关闭", "车站", "咖啡", "价格", "饮用水", "城市",
        "学校", "欢迎", "市场", "酒店", "机场", "医院", "银行", "餐厅", "图书馆", "公园", "谢谢", "地铁",
        "停车场")),
    Language("ja", "Japanese", "Han+Kana", "jpn", ((CJK, 0),), (
        "出口", "入口", "通り", "薬局", "パン屋", "営業中", "閉店", "駅", "コーヒー", "価格", "水", "都市",
        "学校", "ようこそ", "市場", "ホテル", "空港", "病院", "銀行", "レストラン", "図書館", "公園",
        "ありがとう", "地下鉄", "駐車場")),
    Language("ko", "Korean", "Hangul", "kor", ((CJK, 1),), (
        "출구", "입구", "거리", "약국", "빵집", "영업중", "휴무", "역", "커피", "가격", "물", "도시", "학교",
        "환영합니다", "시장", "호텔", "공항", "병원", "은행", "식당", "도서관", "공원", "감사합니다",
        "지하철", "주차장")),
]}

# numbers, times and prices appear on signs in every language
NUMERALS = ("24h", "12:30", "9-18", "2024", "50%", "3.50", "100", "07:45", "No.5", "1/2")


def font_path(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(
        f"font {name} not found under {', '.join(map(str, FONT_DIRS))}; install Debian's fonts-noto-core and "
        "fonts-noto-cjk (`make fonts`, or apt-get install -y fonts-noto-core fonts-noto-cjk)")


def check_languages(codes) -> list[Language]:
    unknown = [c for c in codes if c not in LANGUAGES]
    if unknown:
        raise ValueError(f"unknown language code(s) {unknown}; known: {sorted(LANGUAGES)}")
    return [LANGUAGES[c] for c in codes]
