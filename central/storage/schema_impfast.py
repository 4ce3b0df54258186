"""Migration 44: a receipt's lines only packed in its own row; no ``transaction_lines`` (docs/import-receipts.md).

A purchase kept its lines twice: a ``transaction_lines`` row per line (with two secondary indexes, by product and
by category) and packed in its row's ``columns`` BLOB (product, category, amount, discount) for the what-if. The
table and its indexes were ~40 % of what SQLite spends on a receipt history import. Now the packed form holds
everything the table had (central/storage/line_pack.py: the price and points join the BLOB, the quantities and
names go in the new ``line_texts``), and the table goes. Every purchase that has lines gets its packed form
written again from its ``transaction_lines`` rows (the same values, in line order), then the table is dropped with
its indexes.
"""

from __future__ import annotations

from typing import Any

from . import line_pack

#: purchases rewritten per statement
_BATCH = 20_000


def _pack_lines(conn: Any) -> None:
    """Every transaction with lines: its ``columns`` and ``line_texts`` from its ``transaction_lines`` rows."""
    last = 0
    while True:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT transaction_id FROM transaction_lines WHERE transaction_id > ?"
                " ORDER BY transaction_id LIMIT ?",
                (last, _BATCH),
            )
        ]
        if not ids:
            return
        rows = conn.execute(
            "SELECT transaction_id, sku_id, category_id, name, quantity, price, discount, amount, accrued, redeemed"
            " FROM transaction_lines WHERE transaction_id > ? AND transaction_id <= ? ORDER BY transaction_id, idx",
            (last, ids[-1]),
        ).fetchall()
        tid, sku, cat, name, quantity, price, discount, amount, accrued, redeemed = (
            list(c) for c in zip(*rows, strict=True)
        )
        records = line_pack.packed(
            sku, cat, amount, [d or 0 for d in discount], price, [a or 0 for a in accrued], [r or 0 for r in redeemed]
        )
        blob = records.tobytes()
        width = line_pack.LINE_DTYPE.itemsize
        texts = line_pack.texts_of([str(q) for q in quantity], name)
        plain = line_pack.safe(name)
        updates = []
        start = 0
        for i in range(1, len(tid) + 1):
            if i == len(tid) or tid[i] != tid[start]:
                updates.append((blob[start * width : i * width], line_pack.joined(texts, start, i, plain), tid[start]))
                start = i
        conn.executemany("UPDATE transactions SET columns = ?, line_texts = ? WHERE id = ?", updates)
        last = ids[-1]


IMPFAST_MIGRATIONS = [
    (
        44,
        "a receipt's lines only packed in its row: transaction_lines dropped",
        [
            "ALTER TABLE transactions ADD COLUMN line_texts TEXT",
            # the old packed form (4 fields a line) goes; the lines' rows give the new one (its indexes go with it)
            "UPDATE transactions SET columns = NULL WHERE columns IS NOT NULL",
            _pack_lines,
            "DROP TABLE transaction_lines",
        ],
    ),
]
