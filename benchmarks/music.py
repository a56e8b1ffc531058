"""The music-store database of the NL benchmark's ``music`` suite: the classic 11-table
digital music store (artists, albums, tracks, genres, media types, playlists, invoices,
customers, employees) in snake_case, with generated data.

Deterministic: the same ``seed`` and ``today`` give the same rows. Sizes follow the
well-known sample store (about 275 artists, 350 albums, 3,500 tracks, 59 customers in 24
countries, 412 invoices, 2,240 invoice lines) but names, prices and dates are ours; the
invoices span the four calendar years before ``today``'s and this year up to ``today``,
so "last year" always has sales. Every primary and foreign key is declared: the engine's
linking and repair walk them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import sqlite3
from pathlib import Path
from typing import Any

DDL = """
CREATE TABLE artists (
    artist_id INTEGER NOT NULL PRIMARY KEY,
    name NVARCHAR(120)
);
CREATE TABLE albums (
    album_id INTEGER NOT NULL PRIMARY KEY,
    title NVARCHAR(160) NOT NULL,
    artist_id INTEGER NOT NULL REFERENCES artists (artist_id)
);
CREATE TABLE genres (
    genre_id INTEGER NOT NULL PRIMARY KEY,
    name NVARCHAR(120)
);
CREATE TABLE media_types (
    media_type_id INTEGER NOT NULL PRIMARY KEY,
    name NVARCHAR(120)
);
CREATE TABLE tracks (
    track_id INTEGER NOT NULL PRIMARY KEY,
    name NVARCHAR(200) NOT NULL,
    album_id INTEGER REFERENCES albums (album_id),
    media_type_id INTEGER NOT NULL REFERENCES media_types (media_type_id),
    genre_id INTEGER REFERENCES genres (genre_id),
    composer NVARCHAR(220),
    milliseconds INTEGER NOT NULL,
    bytes INTEGER,
    unit_price NUMERIC(10, 2) NOT NULL
);
CREATE TABLE playlists (
    playlist_id INTEGER NOT NULL PRIMARY KEY,
    name NVARCHAR(120)
);
CREATE TABLE playlist_track (
    playlist_id INTEGER NOT NULL REFERENCES playlists (playlist_id),
    track_id INTEGER NOT NULL REFERENCES tracks (track_id),
    PRIMARY KEY (playlist_id, track_id)
);
CREATE TABLE employees (
    employee_id INTEGER NOT NULL PRIMARY KEY,
    last_name NVARCHAR(20) NOT NULL,
    first_name NVARCHAR(20) NOT NULL,
    title NVARCHAR(30),
    reports_to INTEGER REFERENCES employees (employee_id),
    birth_date DATETIME,
    hire_date DATETIME,
    address NVARCHAR(70),
    city NVARCHAR(40),
    state NVARCHAR(40),
    country NVARCHAR(40),
    postal_code NVARCHAR(10),
    phone NVARCHAR(24),
    fax NVARCHAR(24),
    email NVARCHAR(60)
);
CREATE TABLE customers (
    customer_id INTEGER NOT NULL PRIMARY KEY,
    first_name NVARCHAR(40) NOT NULL,
    last_name NVARCHAR(20) NOT NULL,
    company NVARCHAR(80),
    address NVARCHAR(70),
    city NVARCHAR(40),
    state NVARCHAR(40),
    country NVARCHAR(40),
    postal_code NVARCHAR(10),
    phone NVARCHAR(24),
    fax NVARCHAR(24),
    email NVARCHAR(60) NOT NULL,
    support_rep_id INTEGER REFERENCES employees (employee_id)
);
CREATE TABLE invoices (
    invoice_id INTEGER NOT NULL PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    invoice_date DATETIME NOT NULL,
    billing_address NVARCHAR(70),
    billing_city NVARCHAR(40),
    billing_state NVARCHAR(40),
    billing_country NVARCHAR(40),
    billing_postal_code NVARCHAR(10),
    total NUMERIC(10, 2) NOT NULL
);
CREATE TABLE invoice_items (
    invoice_line_id INTEGER NOT NULL PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices (invoice_id),
    track_id INTEGER NOT NULL REFERENCES tracks (track_id),
    unit_price NUMERIC(10, 2) NOT NULL,
    quantity INTEGER NOT NULL
);
CREATE INDEX ix_albums_artist_id ON albums (artist_id);
CREATE INDEX ix_tracks_album_id ON tracks (album_id);
CREATE INDEX ix_tracks_genre_id ON tracks (genre_id);
CREATE INDEX ix_invoices_customer_id ON invoices (customer_id);
CREATE INDEX ix_invoice_items_invoice_id ON invoice_items (invoice_id);
CREATE INDEX ix_invoice_items_track_id ON invoice_items (track_id);
"""

TABLES = ("artists", "albums", "genres", "media_types", "tracks", "playlists", "playlist_track", "employees",
          "customers", "invoices", "invoice_items")

# Genre -> weight in the catalogue; the video genres hold TV episodes and films.
GENRES = {
    "Rock": 30, "Jazz": 5, "Metal": 8, "Alternative & Punk": 9, "Rock And Roll": 1, "Blues": 3, "Latin": 13,
    "Reggae": 2, "Pop": 2, "Soundtrack": 2, "Bossa Nova": 1, "Easy Listening": 1, "Heavy Metal": 1,
    "R&B/Soul": 2, "Electronica/Dance": 1, "World": 1, "Hip Hop/Rap": 1, "Science Fiction": 1, "TV Shows": 3,
    "Sci Fi & Fantasy": 1, "Drama": 2, "Comedy": 1, "Alternative": 1, "Classical": 3, "Opera": 1,
}
VIDEO_GENRES = {"Science Fiction", "TV Shows", "Sci Fi & Fantasy", "Drama", "Comedy"}
MEDIA_TYPES = ("MPEG audio file", "Protected AAC audio file", "Protected MPEG-4 video file",
               "Purchased AAC audio file", "AAC audio file")
AUDIO_MEDIA_WEIGHTS = (82, 10, 0, 3, 5)

# A few dozen fixed artists the questions may name; the rest are generated.
ARTISTS = (
    "Iron Wolves", "The Velvet Static", "Marisa Duarte", "Blue Harbor", "Northern Lights Orchestra",
    "Caetano Moreira", "The Rusty Nails", "Lena Kovac Quartet", "Black Meridian", "Sonic Parade",
    "Thunder Road", "Gilberto Santos", "The Paper Kites", "Electric Mayhem", "Silver Anchor",
    "Ruby Falls", "Os Cariocas Novos", "Midnight Choir", "Stone Circle", "Jazz at the Pier",
    "Dead Letter Office", "Copper Sun", "The Lonely Hearts", "Vienna Chamber Players", "Grave Diggers",
    "Salsa Caliente", "Mountain Echo", "Neon Saints", "Marcus Reed Trio", "The Hollow Men",
    "Pulse Engine", "Crimson Tide Band", "Amelia Strand", "Deep Roots", "Seven Seas",
)
_ARTIST_ADJECTIVES = ("Broken", "Golden", "Wild", "Silent", "Burning", "Crystal", "Savage", "Lost", "Holy",
                      "Rolling", "Frozen", "Velvet", "Iron", "Scarlet", "Hidden", "Last", "Lucky", "Dark")
_ARTIST_NOUNS = ("Ravens", "Engines", "Rebels", "Horses", "Ghosts", "Drifters", "Kings", "Sirens", "Comets",
                 "Wolves", "Pilots", "Saints", "Outlaws", "Dreamers", "Thieves", "Giants")
_FIRST = ("Ana", "Bruno", "Carla", "Daniel", "Elena", "Felipe", "Greta", "Hugo", "Ines", "Jonas", "Karin",
          "Luis", "Maria", "Niko", "Olga", "Pedro", "Rita", "Stefan", "Tomas", "Vera", "Wei", "Yusuf")
_LAST = ("Almeida", "Becker", "Costa", "Dvorak", "Eriksen", "Fontaine", "Gomes", "Hansen", "Ivanova", "Jensen",
         "Klein", "Lindqvist", "Martins", "Novak", "Olsen", "Peeters", "Quinn", "Rossi", "Schmidt", "Tanaka")
_ALBUM_WORDS = ("Echoes", "Horizon", "Midnight", "Fire", "Rain", "Streets", "Gold", "Dreams", "Thunder",
                "Shadows", "Heart", "River", "Neon", "Highway", "Stars", "Ocean", "Steel", "Glass", "Winter",
                "Summer", "Machine", "Garden", "Electric", "Silence")
_TRACK_WORDS = ("Love", "Night", "Road", "Song", "Blues", "Fire", "Home", "Dance", "Light", "Time", "Rain",
                "Heart", "Soul", "Dream", "City", "Moon", "Sun", "Train", "Storm", "Angel", "Money", "Wings")
PLAYLISTS = (
    "Music", "Movies", "TV Shows", "Audiobooks", "90's Music", "Music Videos", "Brazilian Music", "Classical",
    "Classical 101", "Grunge", "Heavy Metal Classic", "On-The-Go", "Road Trip", "Chill Out", "Workout",
    "Jazz Evenings", "Latin Party", "Top 25",
)
EMPLOYEES = (  # id, last, first, title, reports_to, hired
    (1, "Whitfield", "Gordon", "General Manager", None, "2002-08-14"),
    (2, "Moreau", "Claire", "Sales Manager", 1, "2002-05-01"),
    (3, "Okonkwo", "Jane", "Sales Support Agent", 2, "2002-04-01"),
    (4, "Lindgren", "Margaret", "Sales Support Agent", 2, "2003-05-03"),
    (5, "Duarte", "Steve", "Sales Support Agent", 2, "2003-10-17"),
    (6, "Harlow", "Michael", "IT Manager", 1, "2003-10-17"),
    (7, "Kingsley", "Robert", "IT Staff", 6, "2004-01-02"),
    (8, "Castell", "Laura", "IT Staff", 6, "2004-03-04"),
)
# Country -> (customers, cities): 59 customers in 24 countries, no tie among the first five.
COUNTRIES = {
    "USA": (12, ("New York", "Chicago", "Seattle", "Austin", "Boston", "Orlando")),
    "Canada": (8, ("Toronto", "Montreal", "Vancouver", "Edmonton", "Ottawa")),
    "Brazil": (6, ("Sao Paulo", "Rio de Janeiro", "Brasilia")),
    "France": (5, ("Paris", "Lyon", "Bordeaux")), "Germany": (4, ("Berlin", "Frankfurt", "Stuttgart")),
    "United Kingdom": (3, ("London", "Edinburgh")), "Czech Republic": (2, ("Prague",)),
    "Portugal": (2, ("Lisbon", "Porto")), "India": (2, ("Delhi", "Bangalore")), "Argentina": (1, ("Buenos Aires",)),
    "Australia": (1, ("Sydney",)), "Austria": (1, ("Vienne",)), "Belgium": (1, ("Brussels",)),
    "Chile": (1, ("Santiago",)), "Denmark": (1, ("Copenhagen",)), "Finland": (1, ("Helsinki",)),
    "Hungary": (1, ("Budapest",)), "Ireland": (1, ("Dublin",)), "Italy": (1, ("Rome",)),
    "Netherlands": (1, ("Amsterdam",)), "Norway": (1, ("Oslo",)), "Poland": (1, ("Warsaw",)),
    "Spain": (1, ("Madrid",)), "Sweden": (1, ("Stockholm",)),
}
_STATES = {"USA": "NY IL WA TX MA FL".split(), "Canada": "ON QC BC AB ON".split(), "Brazil": "SP RJ DF".split()}
LINES_PER_INVOICE = (1, 2, 2, 4, 6, 9, 14)  # cycled: 412 invoices -> about 2,240 lines


def generate(today: dt.date, seed: int = 11) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table (tuples in the DDL's column order) for a store whose last invoice
    is on or before ``today``."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}

    names = list(ARTISTS)
    generated = [f"The {a} {n}" for a in _ARTIST_ADJECTIVES for n in _ARTIST_NOUNS]
    generated += [f"{f} {last}" for f in _FIRST for last in _LAST]
    rng.shuffle(generated)
    names += generated[:275 - len(names)]
    rows["artists"] = [(i, name) for i, name in enumerate(names, 1)]
    # Every fixed artist and most others have albums; 70 generated ones have none.
    with_albums = list(range(1, len(ARTISTS) + 1)) + rng.sample(range(len(ARTISTS) + 1, 276), 170)
    owners = with_albums + [rng.choice(with_albums) for _ in range(350 - len(with_albums))]
    rng.shuffle(owners)
    genre_names = list(GENRES)
    rows["genres"] = [(i, name) for i, name in enumerate(genre_names, 1)]
    rows["media_types"] = [(i, name) for i, name in enumerate(MEDIA_TYPES, 1)]

    titles: set[str] = set()
    track_id = 0
    for album_id, artist_id in enumerate(owners, 1):
        title = _album_title(rng, titles)
        rows["albums"].append((album_id, title, artist_id))
        # The first 25 albums cover every genre once; then weighted.
        genre = genre_names[album_id - 1] if album_id <= len(genre_names) else \
            rng.choices(genre_names, list(GENRES.values()))[0]
        composer = rng.choice([None, names[artist_id - 1], f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"])
        for _ in range(rng.randint(4, 16)):
            track_id += 1
            track_genre = genre if rng.random() > 0.08 or genre in VIDEO_GENRES else \
                rng.choice([g for g in genre_names if g not in VIDEO_GENRES])
            rows["tracks"].append(_track(rng, track_id, album_id, genre_names.index(track_genre) + 1,
                                         track_genre in VIDEO_GENRES, composer))

    _playlists(rng, rows, genre_names)

    for employee_id, last, first, title, reports_to, hired in EMPLOYEES:
        born = f"{rng.randint(1947, 1973)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 00:00:00"
        rows["employees"].append((
            employee_id, last, first, title, reports_to, born, f"{hired} 00:00:00",
            f"{rng.randint(1, 999)} {rng.choice(_ALBUM_WORDS)} Street", "Calgary", "AB", "Canada",
            f"T2P {rng.randint(1, 9)}A{rng.randint(1, 9)}", f"+1 (403) 262-{rng.randint(1000, 9999)}",
            f"+1 (403) 262-{rng.randint(1000, 9999)}", f"{first.lower()}@musicstore.example"))

    # Support reps: 21, 20 and 18 customers, so "the agent with the most" has one answer.
    reps = [3] * 21 + [4] * 20 + [5] * 18
    rng.shuffle(reps)
    customer_id = 0
    people = rng.sample([(f, last) for f in _FIRST for last in _LAST], 59)  # no two customers share a name
    for country, (count, cities) in COUNTRIES.items():
        for index in range(count):
            customer_id += 1
            first, last = people[customer_id - 1]
            state = _STATES[country][index % len(_STATES[country])] if country in _STATES else None
            company = f"{rng.choice(_LAST)} {rng.choice(['Ltda', 'Inc.', 'GmbH', 'Media', 'Records'])}" \
                if rng.random() < 0.17 else None
            rows["customers"].append((
                customer_id, first, last, company, f"{rng.randint(1, 400)} {rng.choice(_TRACK_WORDS)} Avenue",
                cities[index % len(cities)], state, country, f"{rng.randint(10000, 99999)}",
                f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                None, f"{first.lower()}.{last.lower()}{customer_id}@example.com", reps[customer_id - 1]))

    _invoices(rng, rows, today)
    return rows


def _album_title(rng: random.Random, taken: set[str]) -> str:
    while True:
        pattern = rng.randrange(4)
        a, b = rng.sample(_ALBUM_WORDS, 2)
        title = (f"{a} and {b}" if pattern == 0 else f"Live at {rng.choice(list(COUNTRIES))}" if pattern == 1
                 else f"{a} {b}" if pattern == 2 else f"The {a} Sessions, Vol. {rng.randint(1, 4)}")
        if title not in taken:
            taken.add(title)
            return title


def _track(rng: random.Random, track_id: int, album_id: int, genre_id: int, video: bool,
           composer: str | None) -> tuple[Any, ...]:
    if video:  # an episode or a film: long, bigger, dearer
        milliseconds = rng.randint(1_200_000, 3_000_000)
        return (track_id, f"Episode {rng.randint(1, 24)}: {rng.choice(_TRACK_WORDS)}", album_id, 3, genre_id,
                None, milliseconds, milliseconds * rng.randint(150, 210), 1.99)
    milliseconds = rng.randint(120_000, 420_000) if rng.random() > 0.04 else rng.randint(420_000, 1_100_000)
    media = rng.choices(range(1, 6), AUDIO_MEDIA_WEIGHTS)[0]
    name = " ".join(rng.sample(_TRACK_WORDS, rng.randint(1, 3)))
    return (track_id, name, album_id, media, genre_id, composer if rng.random() > 0.15 else None,
            milliseconds, milliseconds * rng.randint(30, 34), 0.99)


def _playlists(rng: random.Random, rows: dict[str, list[tuple[Any, ...]]], genre_names: list[str]) -> None:
    """18 playlists; "Movies" and "Audiobooks" stay empty, as in the well-known store."""
    rows["playlists"] = [(i, name) for i, name in enumerate(PLAYLISTS, 1)]
    by_genre: dict[str, list[int]] = {}
    for track in rows["tracks"]:
        by_genre.setdefault(genre_names[track[4] - 1], []).append(track[0])
    audio = [t for g, ids in by_genre.items() if g not in VIDEO_GENRES for t in ids]
    video = [t for g in VIDEO_GENRES for t in by_genre.get(g, [])]
    def some(genres: str, count: int) -> list[int]:
        pool = [t for g in genres.split("|") for t in by_genre.get(g, [])]
        return rng.sample(pool, min(count, len(pool)))

    picks = {
        "Music": rng.sample(audio, len(audio) * 3 // 5), "TV Shows": video, "90's Music": rng.sample(audio, 320),
        "Music Videos": rng.sample(video, 1), "Brazilian Music": some("Latin|Bossa Nova", 39),
        "Classical": some("Classical|Opera", 100), "Classical 101": some("Classical", 25),
        "Grunge": some("Alternative & Punk", 15), "Heavy Metal Classic": some("Metal|Heavy Metal", 26),
        "On-The-Go": rng.sample(audio, 1), "Road Trip": some("Rock|Rock And Roll", 40),
        "Chill Out": some("Jazz|Blues|Easy Listening", 30), "Workout": some("Electronica/Dance|Hip Hop/Rap|Pop", 20),
        "Jazz Evenings": some("Jazz", 22), "Latin Party": some("Latin|Reggae", 35), "Top 25": rng.sample(audio, 25),
    }
    for playlist_id, name in rows["playlists"]:
        rows["playlist_track"] += [(playlist_id, t) for t in sorted(set(picks.get(name, [])))]


def _invoices(rng: random.Random, rows: dict[str, list[tuple[Any, ...]]], today: dt.date) -> None:
    """412 invoices from January 1st four years before ``today``'s year to ``today``;
    each customer has 4 to 10, lines cycle through :data:`LINES_PER_INVOICE`."""
    customers = {c[0]: c for c in rows["customers"]}
    counts = {cid: 7 for cid in customers}
    for _ in range(60):  # move invoices between customers, keeping each between 4 and 10
        give, take = rng.sample(list(counts), 2)
        if counts[give] > 4 and counts[take] < 10:
            counts[give] -= 1
            counts[take] += 1
    counts[rng.choice([c for c, n in counts.items() if n > 4])] -= 1
    start = dt.date(today.year - 4, 1, 1)
    span = (today - start).days + 1
    owners = [cid for cid, n in counts.items() for _ in range(n)]
    rng.shuffle(owners)
    days = sorted(rng.randrange(span) for _ in owners)
    prices = {t[0]: t[8] for t in rows["tracks"]}
    tracks = list(prices)
    line_id = 0
    sizes = itertools.cycle(LINES_PER_INVOICE)
    for invoice_id, (customer_id, day) in enumerate(zip(owners, days), 1):
        total = 0.0
        for track in rng.sample(tracks, next(sizes)):
            line_id += 1
            quantity = 2 if rng.random() < 0.06 else 1
            rows["invoice_items"].append((line_id, invoice_id, track, prices[track], quantity))
            total += prices[track] * quantity
        customer = customers[customer_id]
        rows["invoices"].append((invoice_id, customer_id, f"{start + dt.timedelta(days=day)} 00:00:00",
                                 customer[4], customer[5], customer[6], customer[7], customer[8], round(total, 2)))


def build_music(path: Path, today: dt.date, seed: int = 11) -> sqlite3.Connection:
    """Create the store in a new SQLite file at ``path``; the open connection is returned
    (for distractor tables) and the caller closes it."""
    conn = sqlite3.connect(path)
    conn.executescript(DDL)
    for table, table_rows in generate(today, seed).items():
        marks = ", ".join("?" * len(table_rows[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
    conn.commit()
    return conn
