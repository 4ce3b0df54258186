"""Migration 38: a tag added or removed no longer rewrites the customer's search row (docs/triggers.md, "Tags and
the search").

Until now the quick search's one text per customer (``customer_search``) held the customer's tags, so each tag
written (a console edit, an import, a trigger's ``tag`` action on a million customers) deleted and re-tokenised
the customer's whole row: about ten times the cost of the tag itself. Now the row holds name, phone, email, id and
cards only, and the tags are searched through the **distinct tag names** (``customer_search_tag_names``, a few
rows: with SQLite a trigram FTS5 index ``customer_search_tags`` on them): a new tag name is one row there, an
existing one costs a primary-key probe, removing a tag costs nothing. A search term matches a customer whose row
holds it **or** who has a tag holding it (:func:`central.storage.customer_filter.search_sql`); terms have no
spaces, so this is the match the one text gave. Tag names are never deleted (one nobody holds matches nobody).
"""

from __future__ import annotations

from typing import Any

from .portable import PerBackend

#: the search text per customer, without the tags (they are searched through their names)
SEARCH_DOC = (
    "COALESCE(c.name, '') || ' ' || COALESCE(c.phone, '') || ' ' || COALESCE(c.email, '') || ' ' || c.id"
    " || ' ' || COALESCE((SELECT group_concat(number, ' ') FROM cards WHERE customer_id = c.id), '')"
)


def _reindex(customer: str) -> list[str]:
    """Statements (inside a trigger) that rewrite one customer's search row (its rowid is the customer's)."""
    return [
        f"DELETE FROM customer_search WHERE rowid = (SELECT rowid FROM customers WHERE id = {customer});",
        f"INSERT INTO customer_search (rowid, customer_id, doc) SELECT c.rowid, c.id, {SEARCH_DOC}"
        f" FROM customers c WHERE c.id = {customer};",
    ]


def _trigger(name: str, event: str, *customers: str) -> list[PerBackend]:
    body = " ".join(s for c in customers for s in _reindex(c))
    return [
        PerBackend(f"DROP TRIGGER IF EXISTS {name}", None),
        PerBackend(f"CREATE TRIGGER {name} AFTER {event} BEGIN {body} END", None),
    ]


#: the whole search index again (SQLite, after a VACUUM: it may renumber the customers' rowids)
REBUILD_SEARCH = [
    "DELETE FROM customer_search",
    "INSERT INTO customer_search (rowid, customer_id, doc) SELECT c.rowid, c.id, " + SEARCH_DOC + " FROM customers c",
]

#: PostgreSQL: the whole search index and the tag names again (copy-db)
PG_REBUILD_SEARCH = [
    "DELETE FROM customer_search",
    "INSERT INTO customer_search (customer_id, doc) SELECT c.id, "
    + SEARCH_DOC.replace("group_concat", "string_agg")
    + " FROM customers c",
    "INSERT INTO customer_search_tag_names (tag) SELECT DISTINCT tag FROM customer_tags ON CONFLICT DO NOTHING",
]

_SQLITE_TAGS = [
    "DROP TRIGGER IF EXISTS tags_search_insert",
    "DROP TRIGGER IF EXISTS tags_search_delete",
    "CREATE TABLE customer_search_tag_names (id INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE customer_search_tags USING fts5(tag, tokenize = 'trigram')",
    "INSERT INTO customer_search_tag_names (tag) SELECT DISTINCT tag FROM customer_tags ORDER BY tag",
    "INSERT INTO customer_search_tags (rowid, tag) SELECT id, tag FROM customer_search_tag_names",
    "CREATE TRIGGER customer_search_tag_name AFTER INSERT ON customer_tags"
    " WHEN NOT EXISTS (SELECT 1 FROM customer_search_tag_names WHERE tag = NEW.tag) BEGIN"
    " INSERT INTO customer_search_tag_names (tag) VALUES (NEW.tag);"
    " INSERT INTO customer_search_tags (rowid, tag) SELECT id, tag FROM customer_search_tag_names"
    " WHERE tag = NEW.tag; END",
]

_PG_TAGS = [
    "DROP TRIGGER IF EXISTS tags_search ON customer_tags",
    """CREATE OR REPLACE FUNCTION customer_search_reindex(customer TEXT) RETURNS void LANGUAGE sql AS $$
       DELETE FROM customer_search WHERE customer_id = customer;
       INSERT INTO customer_search (customer_id, doc) SELECT c.id, """
    + SEARCH_DOC.replace("group_concat", "string_agg")
    + """ FROM customers c WHERE c.id = customer $$""",
    "CREATE TABLE customer_search_tag_names (tag TEXT PRIMARY KEY)",
    "INSERT INTO customer_search_tag_names (tag) SELECT DISTINCT tag FROM customer_tags",
    """CREATE FUNCTION customer_search_tag_name() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       INSERT INTO customer_search_tag_names (tag) VALUES (NEW.tag) ON CONFLICT DO NOTHING; RETURN NULL; END $$""",
    "CREATE TRIGGER customer_search_tag_name AFTER INSERT ON customer_tags FOR EACH ROW"
    " EXECUTE FUNCTION customer_search_tag_name()",
]

TRIGSPEED_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        38,
        "the quick search finds tags through their distinct names: a tag written no longer rewrites the customer's"
        " search row",
        [
            *_trigger("customers_search_insert", "INSERT ON customers", "NEW.id"),
            *_trigger("customers_search_update", "UPDATE OF name, phone, email ON customers", "NEW.id"),
            *_trigger("cards_search_insert", "INSERT ON cards", "NEW.customer_id"),
            *_trigger("cards_search_update", "UPDATE OF customer_id ON cards", "NEW.customer_id", "OLD.customer_id"),
            *(PerBackend(s, None) for s in _SQLITE_TAGS),
            *(PerBackend(s, None) for s in REBUILD_SEARCH),
            *(PerBackend(None, s) for s in _PG_TAGS),
            *(PerBackend(None, s) for s in PG_REBUILD_SEARCH[:2]),
        ],
    ),
]
