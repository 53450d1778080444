"""sqlite-vec's documentation, replayed on both engines: the same SQL gives the same outcome.

The ```sql blocks of sqlite-vec v0.1.9's site/ pages (api-reference.md, features/*.md,
guides/*.md, index.md; the other pages have none), split into statements (comments
dropped), are embedded below. Each page runs in order on two fresh in-memory
connections, one with sqlite-quiver and one with sqlite-vec 0.1.9, and each statement's
outcome (its rows, floats within 1e-5, or the class of the exception it raises) must be
the same on both. Statements that cannot run as written are not cases (counted in
test_every_page_has_statements): placeholders (`:query`, `?`), the `embed()` function the docs assume, tables no
statement of the page creates, and the schema illustration of `vec_each`. The few
statements whose outcome differs on purpose assert quiver's documented behaviour
(README, "Where sqlite-quiver differs from sqlite-vec (on purpose)").
"""

import functools
import re
import sqlite3

import pytest

import sqlite_quiver

sqlite_vec = pytest.importorskip("sqlite_vec")

# What each statement is checked for.
SAME = "same"  # the same outcome on both engines
PARAM = "skip: needs a bound parameter (:name or ?) the page does not give"
EMBED = "skip: needs the embed() function (and source tables) the page does not create"
MISSING_TABLE = "skip: needs a table the page does not create"
SCHEMA = "skip: illustrates vec_each's schema; creating it would shadow vec_each()"
VEC_EACH_BITS = "documented: vec_each over a bit vector is LSB-first"
VEC_VERSION = "documented: vec_version() is 'v0.1.9-quiver.X.Y.Z'"
VEC_DEBUG = "documented: vec_debug() has no build date or commit"

PAGES: dict[str, list[tuple[str, str]]] = {
    "api-reference": [
        (SAME, "select vec_f32('[.1, .2, .3, 4]')"),  # 0
        (SAME, "select subtype(vec_f32('[.1, .2, .3, 4]'))"),  # 1
        (SAME, "select vec_f32(X'AABBCCDD')"),  # 2
        (SAME, "select vec_to_json(vec_f32(X'AABBCCDD'))"),  # 3
        (SAME, "select vec_f32(X'AA')"),  # 4
        (SAME, "select vec_int8('[1, 2, 3, 4]')"),  # 5
        (SAME, "select subtype(vec_int8('[1, 2, 3, 4]'))"),  # 6
        (SAME, "select vec_int8(X'AABBCCDD')"),  # 7
        (SAME, "select vec_to_json(vec_int8(X'AABBCCDD'))"),  # 8
        (SAME, "select vec_int8('[999]')"),  # 9
        (SAME, "select vec_bit(X'F0')"),  # 10
        (SAME, "select subtype(vec_bit(X'F0'))"),  # 11
        (SAME, "select vec_to_json(vec_bit(X'F0'))"),  # 12
        (SAME, "select vec_length('[.1, .2]')"),  # 13
        (SAME, "select vec_length(X'AABBCCDD')"),  # 14
        (SAME, "select vec_length(vec_int8(X'AABBCCDD'))"),  # 15
        (SAME, "select vec_length(vec_bit(X'AABBCCDD'))"),  # 16
        (SAME, "select vec_length(X'CCDD')"),  # 17
        (SAME, "select vec_type('[.1, .2]')"),  # 18
        (SAME, "select vec_type(X'AABBCCDD')"),  # 19
        (SAME, "select vec_type(vec_int8(X'AABBCCDD'))"),  # 20
        (SAME, "select vec_type(vec_bit(X'AABBCCDD'))"),  # 21
        (SAME, "select vec_type(X'CCDD')"),  # 22
        (
            SAME,
            """\
select vec_add(
  '[.1, .2, .3]',
  '[.4, .5, .6]'
)
""",
        ),  # 23
        (
            SAME,
            """\
select vec_to_json(
  vec_add(
    '[.1, .2, .3]',
    '[.4, .5, .6]'
  )
)
""",
        ),  # 24
        (
            SAME,
            """\
select vec_to_json(
  vec_add(
    vec_int8('[1, 2, 3]'),
    vec_int8('[4, 5, 6]')
  )
)
""",
        ),  # 25
        (SAME, "select vec_add('[.1]', vec_int8('[1]'))"),  # 26
        (SAME, "select vec_add(vec_bit(X'AA'), vec_bit(X'BB'))"),  # 27
        (
            SAME,
            """\
select vec_sub(
  '[.1, .2, .3]',
  '[.4, .5, .6]'
)
""",
        ),  # 28
        (
            SAME,
            """\
select vec_to_json(
  vec_sub(
    '[.1, .2, .3]',
    '[.4, .5, .6]'
  )
)
""",
        ),  # 29
        (
            SAME,
            """\
select vec_to_json(
  vec_sub(
    vec_int8('[1, 2, 3]'),
    vec_int8('[4, 5, 6]')
  )
)
""",
        ),  # 30
        (SAME, "select vec_sub('[.1]', vec_int8('[1]'))"),  # 31
        (SAME, "select vec_sub(vec_bit(X'AA'), vec_bit(X'BB'))"),  # 32
        (SAME, "select vec_normalize('[2, 3, 1, -4]')"),  # 33
        (
            SAME,
            """\
select vec_to_json(
  vec_normalize('[2, 3, 1, -4]')
)
""",
        ),  # 34
        (
            SAME,
            """\
select vec_to_json(
  vec_normalize(
    vec_slice('[2, 3, 1, -4]', 0, 2)
  )
)
""",
        ),  # 35
        (SAME, "select vec_slice('[1, 2,3, 4]', 0, 2)"),  # 36
        (
            SAME,
            """\
select vec_to_json(
  vec_slice('[1, 2,3, 4]', 0, 2)
)
""",
        ),  # 37
        (
            SAME,
            """\
select vec_to_json(
  vec_slice('[1, 2,3, 4]', 2, 4)
)
""",
        ),  # 38
        (
            SAME,
            """\
select vec_to_json(
  vec_slice('[1, 2,3, 4]', -1, 4)
)
""",
        ),  # 39
        (
            SAME,
            """\
select vec_to_json(
  vec_slice('[1, 2,3, 4]', 0, 5)
)
""",
        ),  # 40
        (
            SAME,
            """\
select vec_to_json(
  vec_slice('[1, 2,3, 4]', 0, 0)
)
""",
        ),  # 41
        (SAME, "select vec_to_json(X'AABBCCDD')"),  # 42
        (SAME, "select vec_to_json(vec_int8(X'AABBCCDD'))"),  # 43
        (SAME, "select vec_to_json(vec_bit(X'AABBCCDD'))"),  # 44
        (SAME, "select vec_to_json('[1,2,3,4]')"),  # 45
        (SAME, "select vec_to_json('invalid')"),  # 46
        (
            SCHEMA,
            """\
CREATE TABLE vec_each(
  rowid int,
  vector HIDDEN
)
""",
        ),  # 47
        (SAME, "select rowid, value from vec_each('[1,2,3,4]')"),  # 48
        (SAME, "select rowid, value from vec_each(X'AABBCCDD00112233')"),  # 49
        (SAME, "select rowid, value from vec_each(vec_int8(X'AABBCCDD'))"),  # 50
        # Documented difference: README differences table, row `vec_each` over a bit vector: LSB-first.
        (VEC_EACH_BITS, "select rowid, value from vec_each(vec_bit(X'F0'))"),  # 51
        (SAME, "select vec_distance_L2('[1, 1]', '[2, 2]')"),  # 52
        (SAME, "select vec_distance_L2('[1, 1]', '[-2, -2]')"),  # 53
        (SAME, "select vec_distance_L2('[1.1, 2.2, 3.3]', '[4.4, 5.5, 6.6]')"),  # 54
        (SAME, "select vec_distance_L2(X'AABBCCDD', X'00112233')"),  # 55
        (SAME, "select vec_distance_L2('[1, 1]', vec_int8('[2, 2]'))"),  # 56
        (SAME, "select vec_distance_L2(vec_bit(X'AA'), vec_bit(X'BB'))"),  # 57
        (SAME, "select vec_distance_cosine('[1, 1]', '[2, 2]')"),  # 58
        (SAME, "select vec_distance_cosine('[1, 1]', '[-2, -2]')"),  # 59
        (SAME, "select vec_distance_cosine('[1.1, 2.2, 3.3]', '[4.4, 5.5, 6.6]')"),  # 60
        (SAME, "select vec_distance_cosine(X'AABBCCDD', X'00112233')"),  # 61
        (SAME, "select vec_distance_cosine('[1, 1]', vec_int8('[2, 2]'))"),  # 62
        (SAME, "select vec_distance_cosine(vec_bit(X'AA'), vec_bit(X'BB'))"),  # 63
        (SAME, "select vec_distance_hamming(vec_bit(X'00'), vec_bit(X'FF'))"),  # 64
        (SAME, "select vec_distance_hamming(vec_bit(X'FF'), vec_bit(X'FF'))"),  # 65
        (SAME, "select vec_distance_hamming(vec_bit(X'F0'), vec_bit(X'44'))"),  # 66
        (SAME, "select vec_distance_hamming('[1, 1]', '[0, 0]')"),  # 67
        (SAME, "select vec_quantize_binary('[1, 2, 3, 4, 5, 6, 7, 8]')"),  # 68
        (SAME, "select vec_quantize_binary('[1, 2, 3, 4, -5, -6, -7, -8]')"),  # 69
        (SAME, "select vec_quantize_binary('[-1, -2, -3, -4, -5, -6, -7, -8]')"),  # 70
        (SAME, "select vec_quantize_binary('[-1, -2, -3, -4, -5, -6, -7, -8]')"),  # 71
        (SAME, "select vec_quantize_binary(vec_int8(X'11223344'))"),  # 72
        (SAME, "select vec_quantize_binary(vec_bit(X'FF'))"),  # 73
        (SAME, "select 'todo'"),  # 74
        (
            SAME,
            """\
select
  rowid,
  vector,
  vec_type(vector),
  vec_to_json(vector)
from vec_npy_each(
  X'934E554D5059010076007B276465736372273A20273C6634272C2027666F727472616E5F6F72646572273A2046616C73652C20277368617065273A2028332C2031292C207D202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200A0000803F0000004000004040'
)
""",
        ),  # 75
        (
            SAME,
            """\
select
  rowid,
  vector,
  vec_type(vector),
  vec_to_json(vector)
from vec_npy_each(
  X'934E554D5059010076007B276465736372273A20273C6634272C2027666F727472616E5F6F72646572273A2046616C73652C20277368617065273A2028332C2031292C207D202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200A0000803F0000004000004040'
)
""",
        ),  # 76
        # Documented difference: README differences table, row `vec_version()`.
        (VEC_VERSION, "select vec_version()"),  # 77
        # Documented difference: README differences table, row `vec_debug()`: Date/Commit unknown.
        (VEC_DEBUG, "select vec_debug()"),  # 78
    ],
    "features/knn": [
        (
            SAME,
            """\
create virtual table vec_documents using vec0(
  document_id integer primary key,
  contents_embedding float[768]
)
""",
        ),  # 0
        (
            EMBED,
            """\
insert into vec_documents(document_id, contents_embedding)
  select id, embed(contents)
  from documents
""",
        ),  # 1
        (
            PARAM,
            """\
select
  document_id,
  distance
from vec_documents
where contents_embedding match :query
  and k = 10
""",
        ),  # 2
        (
            PARAM,
            """\
select
  document_id,
  distance
from vec_documents
where contents_embedding match :query
limit 10
""",
        ),  # 3
        (
            PARAM,
            """\
with knn_matches as (
  select
    document_id,
    distance
  from vec_documents
  where contents_embedding match :query
    and k = 10
)
select
  documents.id,
  documents.contents,
  knn_matches.distance
from knn_matches
left join documents on documents.id = knn_matches.document_id
""",
        ),  # 4
        (
            SAME,
            """\
create virtual table vec_documents using vec0(
  document_id integer primary key,
  contents_embedding float[768] distance_metric=cosine
)
""",
        ),  # 5
        (
            PARAM,
            """\
select
  document_id,
  distance
from vec_documents
where contents_embedding match :query
  and k = 10
""",
        ),  # 6
        (
            SAME,
            """\
create table documents(
  id integer primary key,
  contents text,

  contents_embedding blob
)
""",
        ),  # 7
        (
            SAME,
            """\
insert into documents values
  (1, 'alex', vec_f32('[1.1, 1.1, 1.1, 1.1]')),
  (2, 'brian', vec_f32('[2.2, 2.2, 2.2, 2.2]')),
  (3, 'craig', vec_f32('[3.3, 3.3, 3.3, 3.3]'))
""",
        ),  # 8
        (
            SAME,
            """\
select
  id,
  contents,
  vec_distance_L2(contents_embedding, '[2.2, 2.2, 2.2, 2.2]') as distance
from documents
order by distance
""",
        ),  # 9
        (
            SAME,
            """\
create table documents(
  id integer primary key,
  contents text,
  contents_embedding float[4]
    check(
      typeof(contents_embedding) == 'blob'
      and vec_length(contents_embedding) == 4
    )
)
""",
        ),  # 10
        (SAME, "insert into documents values (1, 'alex', '[1.1, 1.1, 1.1, 1.1]')"),  # 11
        (SAME, "insert into documents values (1, 'alex', vec_f32('[1.1, 1.1, 1.1]'))"),  # 12
        (SAME, "insert into documents values (1, 'alex', vec_bit('[1.1, 1.1, 1.1, 1.1]'))"),  # 13
        (SAME, "insert into documents values (1, 'alex', vec_f32('[1.1, 1.1, 1.1, 1.1]'))"),  # 14
        (
            SAME,
            """\
create table students(
  name ham_sandwich,
  age minions[42]
)
""",
        ),  # 15
        (
            SAME,
            """\
create table documents(
  id integer primary key,
  contents text,
  contents_embedding blob check(vec_length(contents_embedding) == 4)
) strict
""",
        ),  # 16
    ],
    "features/vec0": [
        (
            SAME,
            """\
create virtual table vec_chunks using vec0(
  document_id integer partition key,
  contents_embedding float[768],


  user_id integer partition key,


  label text,


  +contents text
)
""",
        ),  # 0
        (
            SAME,
            """\
create virtual table vec_movies using vec0(
  movie_id integer primary key,
  synopsis_embedding float[1024],
  genre text,
  num_reviews int,
  mean_rating float,
  contains_violence boolean
)
""",
        ),  # 1
        (
            SAME,
            """\
select *
from vec_movies
where synopsis_embedding match '[...]'
  and k = 5
  and genre = 'scifi'
  and num_reviews between 100 and 500
  and mean_rating > 3.5
  and contains_violence = false
""",
        ),  # 2
        (
            SAME,
            """\
create virtual table vec_documents using vec0(
  document_id integer primary key,
  user_id integer partition key,
  contents_embedding float[1024]
)
""",
        ),  # 3
        (
            PARAM,
            """\
select
  document_id,
  user_id,
  distance
from vec_documents
where contents_embedding match :query
  and k = 20
  and user_id = 123
""",
        ),  # 4
        (
            SAME,
            """\
create virtual table vec_articles using vec0(
  article_id integer primary key,
  published_date text partition key,
  headline_embedding float[1024]
)
""",
        ),  # 5
        (
            PARAM,
            """\
select
  article_id,
  published_date,
  distance
from vec_articles
where headline_embedding match :query
  and published_date between '2009-01-20' and '2017-01-20'
""",
        ),  # 6
        (
            SAME,
            """\
create virtual table vec_chunks using vec0(
  contents_embedding float[1024],
  +contents text
)
""",
        ),  # 7
        (
            PARAM,
            """\
select
  rowid,
  contents,
  distance
from vec_chunks
where contents_embedding match :query
  and k = 10
""",
        ),  # 8
        (
            SAME,
            """\
create virtual table vec_image_chunks using vec0(
  image_embedding float[1024],
  +image blob
)
""",
        ),  # 9
        (
            PARAM,
            """\
select
  rowid,
  contents,
  distance
from vec_chunks
where contents_embedding match :query
  and k = 10
""",
        ),  # 10
    ],
    "guides/binary-quant": [
        (
            SAME,
            """\
select vec_quantize_binary(
  '[-0.73, -0.80, 0.12, -0.73, 0.79, -0.11, 0.23, 0.97]'
)
""",
        ),  # 0
        (
            SAME,
            """\
create virtual table vec_movies using vec0(
  synopsis_embedding bit[768]
)
""",
        ),  # 1
        (
            PARAM,
            """\
insert into vec_movies(rowid, synopsis_embedding)
 VALUES (:id, vec_quantize_binary(:vector))
""",
        ),  # 2
        (
            PARAM,
            """\
select
  rowid,
  distance
from vec_movies
where synopsis_embedding match vec_quantize_binary(:query)
order by distance
limit 20
""",
        ),  # 3
        (
            SAME,
            """\
create virtual table vec_movies using vec0(
  synopsis_embedding float[768],
  synopsis_embedding_coarse bit[768]
)
""",
        ),  # 4
        (
            PARAM,
            """\
insert into vec_movies(rowid, synopsis_embedding, synopsis_embedding_coarse)
 VALUES (:id, :vector, vec_quantize_binary(:vector))
""",
        ),  # 5
        (
            PARAM,
            """\
with coarse_matches as (
  select
    rowid,
    synopsis_embedding
  from vec_movies
  where synopsis_embedding_coarse match vec_quantize_binary(:query)
  order by distance
  limit 20 * 8
),
select
  rowid,
  vec_distance_L2(synopsis_embedding, :query)
from coarse_matches
order by 2
limit 20
""",
        ),  # 6
    ],
    "guides/matryoshka": [
        (
            MISSING_TABLE,
            """\
select
  vec_normalize(
    vec_slice(title_embeddings, 0, 256)
  ) as title_embeddings_256d
from vec_articles
""",
        ),  # 0
    ],
    "guides/scalar-quant": [
        (SAME, "select vec_quantize_float16(vec_f32('[]'), 'unit')"),  # 0
        (SAME, "select vec_quantize_int8(vec_f32('[]'), 'unit')"),  # 1
        (SAME, "select vec_quantize('float16', vec_f32('...'))"),  # 2
        (SAME, "select vec_quantize('int8', vec_f32('...'))"),  # 3
        (SAME, "select vec_quantize('bit', vec_f32('...'))"),  # 4
        (SAME, "select vec_quantize('sqf16', vec_f32('...'))"),  # 5
        (SAME, "select vec_quantize('sqi8', vec_f32('...'))"),  # 6
        (SAME, "select vec_quantize('bq2', vec_f32('...'))"),  # 7
    ],
    "index": [
        (
            SAME,
            """\
create virtual table vec_movies using vec0(
  synopsis_embedding float[768]
)
""",
        ),  # 0
        (
            EMBED,
            """\
insert into vec_movies(rowid, synopsis_embedding)
  select
    rowid,
    embed(synopsis) as synopsis_embedding
  from movies
""",
        ),  # 1
        (
            EMBED,
            """\
select
  rowid,
  distance
from vec_movies
where synopsis_embedding match embed('scary futuristic movies')
order by distance
limit 20
""",
        ),  # 2
    ],
}


def outcome(conn: sqlite3.Connection, sql: str) -> object:
    """The rows `sql` returns, or the class of the exception it raises."""
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error as e:
        return type(e)


def same_outcome(a: object, b: object) -> bool:
    """Equal rows (floats within 1e-5) or the same exception class."""
    if not (isinstance(a, list) and isinstance(b, list)):
        return a is b
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b):
        if len(row_a) != len(row_b):
            return False
        for x, y in zip(row_a, row_b):
            if type(x) is not type(y):
                return False
            if isinstance(x, float):
                if x != pytest.approx(y, rel=1e-5, abs=1e-5):
                    return False
            elif x != y:
                return False
    return True


@functools.cache
def page_outcomes(page: str) -> tuple[list[object], list[object]]:
    """Runs the page's statements in order on fresh connections: (quiver's, sqlite-vec's)."""
    ours = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_quiver.load(ours)
    theirs = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_quiver.load_extension(theirs, sqlite_vec.loadable_path())
    results_ours, results_theirs = [], []
    for kind, sql in PAGES[page]:
        skipped = kind.startswith("skip:")
        results_ours.append(None if skipped else outcome(ours, sql))
        results_theirs.append(None if skipped else outcome(theirs, sql))
    ours.close()
    theirs.close()
    return results_ours, results_theirs


# Statements that cannot run as written (placeholders, the docs' embed(), tables no page
# creates) are not cases; the count below keeps the list from growing unnoticed.
CASES = [
    pytest.param(page, i, kind, sql, id=f"{page}#{i:02d}")
    for page, statements in PAGES.items()
    for i, (kind, sql) in enumerate(statements)
    if not kind.startswith("skip:")
]


def test_every_page_has_statements():
    assert len(PAGES) == 7
    assert sum(len(s) for s in PAGES.values()) == 126
    assert len(CASES) == 109


@pytest.mark.parametrize(("page", "index", "kind", "sql"), CASES)
def test_docs_statement(page, index, kind, sql):
    ours, theirs = (results[index] for results in page_outcomes(page))
    if kind == SAME:
        assert same_outcome(ours, theirs), f"{sql}\nquiver: {ours!r}\nsqlite-vec: {theirs!r}"
    elif kind == VEC_EACH_BITS:
        # vec_bit(X'F0'): bits 4..7 set. quiver: LSB-first, as its (and sqlite-vec's)
        # vec_to_json gives '[0,0,0,0,1,1,1,1]'; sqlite-vec: MSB-first.
        assert ours == [(i, int(i >= 4)) for i in range(8)]
        assert theirs == [(i, int(i < 4)) for i in range(8)]
    elif kind == VEC_VERSION:
        assert re.fullmatch(r"v0\.1\.9-quiver\.\d+\.\d+\.\d+\S*", ours[0][0]), ours
        assert theirs == [("v0.1.9",)]
    elif kind == VEC_DEBUG:
        lines = ours[0][0].split("\n")
        assert lines[0].startswith("Version: v0.1.9-quiver."), lines
        assert lines[1:3] == ["Date: unknown", "Commit: unknown"], lines
        assert lines[3].startswith("Build flags:"), lines
        assert [line.split(":")[0] for line in theirs[0][0].split("\n")] == [
            "Version",
            "Date",
            "Commit",
            "Build flags",
        ]
    else:
        raise AssertionError(f"unknown kind {kind!r}")
