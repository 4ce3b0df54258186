"""Key columns packed into one int64 (central/storage/packed_keys.py) sort, group and unpack as the columns do."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from central.storage import packed_keys

#: rows of three key columns, with ties, negative values and wide ranges among them
rows = st.lists(
    st.tuples(st.integers(-3, 3), st.integers(736_000, 736_400), st.sampled_from([0, 1, 7, 2**20, -(2**20)])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_packed_keys_order_as_the_columns_and_give_them_back(found):
    columns = [np.array(c, np.int64) for c in zip(*found, strict=True)]
    packed, radix = packed_keys.pack(columns)
    want = np.lexsort(columns[::-1])
    assert (np.sort(packed) == packed[want]).all()  # the same order
    order, starts = packed_keys.groups(packed)
    distinct = sorted(set(found))
    assert [tuple(int(c[i]) for c in columns) for i in order[starts]] == distinct  # one run per distinct row
    unpacked = radix.unpack(packed[order[starts]])
    assert [tuple(c.tolist()) for c in unpacked] == [tuple(x) for x in zip(*distinct, strict=True)]


def test_columns_too_wide_for_63_bits_are_not_packed():
    wide = [np.array([0, 2**40], np.int64), np.array([0, 2**30], np.int64)]
    assert packed_keys.pack(wide) is None
    assert packed_keys.pack(wide[:1]) is not None
