"""The receipt log's times primed by columns (``ReceiptLog.prime_whens``, a receipt import's batch) are what its
parse of each event's ISO text gives (``_parse_when``): UTC text, epoch, local weekday and hour, in each store's
own zone, across DST gaps and folds and zones with odd offsets."""

from __future__ import annotations

import datetime as dt
import sqlite3
import zoneinfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from central.points.receipt_log import ParsedTimes, ReceiptLog

#: the stores' zones: DST north and south, half and quarter hours, a 30-minute DST, none
ZONES = {
    "msk": "Europe/Moscow",
    "ny": "America/New_York",
    "lon": "Europe/London",
    "syd": "Australia/Sydney",
    "lhi": "Australia/Lord_Howe",
    "ktm": "Asia/Kathmandu",
    "nfl": "America/St_Johns",
    "cht": "Pacific/Chatham",
    "utc": "UTC",
}
#: the zones a receipt's time is written in (a file's local time, or an offset)
WRITTEN = [zoneinfo.ZoneInfo(z) for z in ZONES.values()] + [
    dt.timezone(dt.timedelta(hours=h, minutes=m)) for h, m in ((3, 0), (-5, 0), (5, 45), (-3, -30))
]


def _log() -> ReceiptLog:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE stores (id TEXT, timezone TEXT)")
    conn.executemany("INSERT INTO stores VALUES (?, ?)", ZONES.items())
    return ReceiptLog(conn, "2026-12-07T00:00:00+00:00")


times = st.lists(
    st.tuples(
        st.sampled_from([*ZONES, "unknown", None]),  # a store without a row: UTC, as for the parse
        st.datetimes(dt.datetime(1901, 1, 2), dt.datetime(2099, 12, 30)),
        st.sampled_from(WRITTEN),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(times)
def test_primed_times_are_what_the_parse_of_each_text_gives(items):
    stores, texts, epochs = [], [], []
    for store, naive, zone, fold in items:
        moment = naive.replace(microsecond=0, tzinfo=zone, fold=int(fold))  # a gap's or a fold's time too
        stores.append(store)
        texts.append(moment.isoformat())  # as the import's events carry it
        epochs.append(int(moment.timestamp()))
    primed, parsed = _log(), _log()
    primed.prime_whens(ParsedTimes(stores, texts, np.array(epochs, np.int64)))
    for store, text in zip(stores, texts, strict=True):
        assert primed._when(store, text) == parsed._parse_when(store, text)


def test_times_around_the_transitions_of_each_zone():
    """Every minute of a day around each zone's DST changes (the hour that changes is converted second by
    second)."""
    stores, texts, epochs = [], [], []
    for store, name in ZONES.items():
        zone = zoneinfo.ZoneInfo(name)
        for day in (
            dt.datetime(2017, 3, 26),
            dt.datetime(2017, 10, 29),
            dt.datetime(2017, 4, 2),
            dt.datetime(2017, 11, 5),
        ):
            start = int(day.replace(tzinfo=dt.UTC).timestamp()) - 86400
            for seconds in range(start, start + 2 * 86400, 59):
                moment = dt.datetime.fromtimestamp(seconds, zone)
                stores.append(store)
                texts.append(moment.isoformat())
                epochs.append(seconds)
    primed, parsed = _log(), _log()
    primed.prime_whens(ParsedTimes(stores, texts, np.array(epochs, np.int64)))
    assert [primed._when(s, t) for s, t in zip(stores, texts, strict=True)] == [
        parsed._parse_when(s, t) for s, t in zip(stores, texts, strict=True)
    ]


def test_a_time_not_primed_is_parsed_and_the_primed_ones_stay():
    log = _log()
    log.prime_whens(ParsedTimes(["msk"], ["2017-03-01T10:00:00+03:00"], np.array([1488351600], np.int64)))
    assert log._when("msk", "2017-03-01T10:00:00.500000+03:00") == log._parse_when(
        "msk", "2017-03-01T10:00:00.500000+03:00"
    )
    assert log._when("msk", "2017-03-01T10:00:00+03:00") == ("2017-03-01T07:00:00+00:00", 1488351600, 3, 10)
