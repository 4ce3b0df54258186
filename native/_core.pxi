# The arithmetic core of the kernel, shared by both entry points (included by _accrual.pyx).
# Everything here is C: no Python objects, callable without the GIL.

cdef extern from *:
    """
    #include <stdint.h>
    typedef unsigned __int128 lk_u128;
    #define LK_E16 10000000000000000ULL

    /* floor(a / 10^16); the quotient fits 64 bits in the documented ranges */
    static inline uint64_t lk_div_e16(lk_u128 a) {
        if ((uint64_t)(a >> 64) == 0) return (uint64_t)a / LK_E16;
        return (uint64_t)(a / LK_E16);
    }

    /* floor(a * num / (10^16 * den)) exactly, every intermediate below 2^128 (see the module docstring) */
    static inline uint64_t lk_muldiv(lk_u128 a, uint64_t num, uint64_t den) {
        uint64_t q = lk_div_e16(a);
        uint64_t r = (uint64_t)(a - (lk_u128)q * LK_E16);
        lk_u128 qn = (lk_u128)q * num;
        lk_u128 whole = qn / den;
        uint64_t b = (uint64_t)(qn - whole * den);
        return (uint64_t)(whole + ((lk_u128)b * LK_E16 + (lk_u128)r * num) / ((lk_u128)den * LK_E16));
    }

    /* floor(a * b / d) and its remainder; a, b, d < 2^63, d > 0 */
    static inline uint64_t lk_share(uint64_t a, uint64_t b, uint64_t d, uint64_t *rem) {
        lk_u128 p = (lk_u128)a * b;
        if ((uint64_t)(p >> 64) == 0) {
            uint64_t lo = (uint64_t)p;
            *rem = lo % d;
            return lo / d;
        }
        *rem = (uint64_t)(p % d);
        return (uint64_t)(p / d);
    }

    /* discounts / gross > threshold / 10^4, compared exactly */
    static inline int lk_share_above(int64_t discounts, int64_t gross, int64_t threshold) {
        return (__int128)discounts * 10000 > (__int128)gross * threshold;
    }

    /* the product of campaign multipliers (x1000 each, at most 5) as num/den, capped at 100 */
    typedef struct { lk_u128 num; uint64_t den; } lk_frac;
    static inline void lk_frac_mul(lk_frac *f, int64_t k) { f->num *= (uint64_t)k; f->den *= 1000; }
    static inline int lk_frac_over_100(const lk_frac *f) { return f->num > (lk_u128)f->den * 100; }
    static inline uint64_t lk_frac_num(const lk_frac *f) { return (uint64_t)f->num; }

    /* the documented ranges (shared/numbers.py): inputs past them go to the reference */
    #define MAX_AMOUNT 10000000000LL
    #define MAX_PERCENT 10000
    #define MAX_K 100000
    #define MAX_CAMPAIGNS 5
    #define MAX_REWARD_POINTS_C 1000000000000LL
    #define K_ONE 1000
    /* receipts up to this many lines are quoted without a heap allocation */
    #define STACK_LINES 32
    """
    enum:
        MAX_CAMPAIGNS
        STACK_LINES
    const int64_t MAX_AMOUNT, MAX_PERCENT, MAX_K, K_ONE, MAX_REWARD_POINTS_C
    ctypedef unsigned long long lk_u128  # really unsigned __int128; only used through the helpers
    ctypedef struct lk_frac:
        lk_u128 num
        uint64_t den
    uint64_t lk_div_e16(lk_u128 a) noexcept nogil
    uint64_t lk_muldiv(lk_u128 a, uint64_t num, uint64_t den) noexcept nogil
    uint64_t lk_share(uint64_t a, uint64_t b, uint64_t d, uint64_t *rem) noexcept nogil
    bint lk_share_above(int64_t discounts, int64_t gross, int64_t threshold) noexcept nogil
    void lk_frac_mul(lk_frac *f, int64_t k) noexcept nogil
    bint lk_frac_over_100(const lk_frac *f) noexcept nogil
    uint64_t lk_frac_num(const lk_frac *f) noexcept nogil



cdef struct Tables:
    # a rule set compiled for the arithmetic core
    int64_t base_percent, ppm, total_step
    int64_t max_percent, reduced_percent, threshold
    bint accrue_on_redeemed
    int64_t week[168]  # k_time by (ISO weekday - 1) * 24 + hour, rules without a date
    Py_ssize_t n_dates
    int64_t *date_ordinal  # sorted
    int64_t *date_k
    Py_ssize_t n_tiers
    int64_t *tier_from  # in the rule set's order (the reference's loop)
    int64_t *tier_k


cdef struct LineIn:
    # one line as the core sees it: every lookup already done
    int64_t amount
    int64_t discount
    int64_t k_item
    uint64_t kc_num
    uint64_t kc_den  # 0: no campaign applies (k_campaign = 1)
    bint redeemable


cdef struct Totals:
    int64_t accrued
    int64_t max_redeemable
    int64_t k_receipt
    int64_t cap
    int status  # 0 ok, 1 redeem over the limit


cdef struct Rank:
    int64_t key
    int64_t index


# -- the arithmetic core ----------------------------------------------------------------


cdef inline bint rank_before(const Rank *a, const Rank *b) noexcept nogil:
    # larger key first; ties: the lower line index (accrual.md)
    return a.key > b.key or (a.key == b.key and a.index < b.index)


cdef int rank_compare(const void *pa, const void *pb) noexcept nogil:
    cdef const Rank *a = <const Rank *>pa
    cdef const Rank *b = <const Rank *>pb
    if rank_before(a, b):
        return -1
    if rank_before(b, a):
        return 1
    return 0


cdef void sort_ranks(Rank *ranks, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef Rank item
    if n > 24:
        qsort(ranks, n, sizeof(Rank), rank_compare)
        return
    for i in range(1, n):  # insertion sort: receipts are short
        item = ranks[i]
        j = i - 1
        while j >= 0 and rank_before(&item, &ranks[j]):
            ranks[j + 1] = ranks[j]
            j -= 1
        ranks[j + 1] = item


cdef inline int64_t k_time_of(const Tables *t, int64_t ordinal, int64_t weekday, int64_t hour) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = t.n_dates, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if t.date_ordinal[mid] < ordinal:
            lo = mid + 1
        else:
            hi = mid
    if lo < t.n_dates and t.date_ordinal[lo] == ordinal:
        return t.date_k[lo]
    return t.week[(weekday - 1) * 24 + hour]


cdef inline int64_t k_receipt_of(const Tables *t, int64_t total) noexcept nogil:
    cdef int64_t k = K_ONE
    cdef Py_ssize_t i
    for i in range(t.n_tiers):
        if t.tier_from[i] <= total:
            k = t.tier_k[i]
    return k


cdef void allocate(int64_t amount, const LineIn *lines, Py_ssize_t n, int64_t total,
                   int64_t *out, Rank *ranks) noexcept nogil:
    """Largest-remainder split of ``amount`` over the redeemable lines' amounts."""
    cdef Py_ssize_t i, m = 0
    cdef uint64_t rem
    cdef int64_t given = 0, left
    if amount == 0 or total == 0:
        memset(out, 0, n * sizeof(int64_t))
        return
    for i in range(n):
        if not lines[i].redeemable:
            out[i] = 0
            continue
        out[i] = <int64_t>lk_share(amount, lines[i].amount, total, &rem)
        given += out[i]
        if rem:
            ranks[m].key = <int64_t>rem
            ranks[m].index = i
            m += 1
    left = amount - given
    if left > 0:
        sort_ranks(ranks, m)
        for i in range(left):
            out[ranks[i].index] += 1


cdef void split_weights(int64_t amount, const int64_t *weights, Py_ssize_t n, int64_t total,
                        int64_t *out, Rank *ranks) noexcept nogil:
    """Largest-remainder split of ``amount`` over ``weights`` (the reference's ``allocate``)."""
    cdef Py_ssize_t i, m = 0
    cdef uint64_t rem
    cdef int64_t given = 0, left
    if amount == 0 or total == 0:
        memset(out, 0, n * sizeof(int64_t))
        return
    for i in range(n):
        if weights[i] == 0:  # a line the reward does not match: nothing, and no remainder
            out[i] = 0
            continue
        out[i] = <int64_t>lk_share(amount, weights[i], total, &rem)
        given += out[i]
        if rem:
            ranks[m].key = <int64_t>rem
            ranks[m].index = i
            m += 1
    left = amount - given
    if left > 0:
        sort_ranks(ranks, m)
        for i in range(left):
            out[ranks[i].index] += 1


cdef void apply_reward(LineIn *lines, Py_ssize_t n, int kind, int64_t value, const uint8_t *match,
                       int64_t *weights, int64_t *taken, Rank *ranks) noexcept nogil:
    """One reward's discount on the matching lines (kind 1 percent x100, 2 money; else nothing here)."""
    cdef Py_ssize_t i
    cdef int64_t total = 0
    if kind == 1:
        for i in range(n):
            taken[i] = lines[i].amount * value // 10000 if match[i] else 0
    elif kind == 2:
        for i in range(n):
            weights[i] = lines[i].amount if match[i] else 0
            total += weights[i]
        split_weights(value if value < total else total, weights, n, total, taken, ranks)
    else:
        memset(taken, 0, n * sizeof(int64_t))
        return
    for i in range(n):
        lines[i].amount -= taken[i]
        lines[i].discount += taken[i]


cdef int64_t take_step(int64_t *points, Py_ssize_t n, int64_t step, int64_t total, Rank *ranks) noexcept nogil:
    """Floor ``total`` to a multiple of ``step``, taking from the largest lines first."""
    cdef int64_t diff = total % step, take
    cdef Py_ssize_t i, best = 0, m = 0
    if diff == 0:
        return total
    for i in range(1, n):
        if points[i] > points[best]:
            best = i
    if points[best] >= diff:  # the usual case: the largest line covers it
        points[best] -= diff
        return total - diff
    for i in range(n):
        if points[i] > 0:
            ranks[m].key = points[i]
            ranks[m].index = i
            m += 1
    sort_ranks(ranks, m)
    total -= diff
    for i in range(m):
        take = diff if diff < ranks[i].key else ranks[i].key
        points[ranks[i].index] -= take
        diff -= take
        if diff == 0:
            break
    return total


cdef int quote_lines(const Tables *t, const LineIn *lines, Py_ssize_t n, int64_t percent, int64_t k_time,
                     int64_t redeem, bint has_balance, int64_t balance,
                     int64_t *points, int64_t *redeemed, Rank *ranks, Totals *out) noexcept nogil:
    """One receipt: cap, maximum, allocation, accrual, total_step. Returns the status."""
    cdef int64_t total = 0, discounts = 0, redeemable_total = 0, max_redeemable, base, accrued = 0
    cdef uint64_t factor, p
    cdef lk_u128 a
    cdef Py_ssize_t i
    for i in range(n):
        total += lines[i].amount
        discounts += lines[i].discount
        if lines[i].redeemable:
            redeemable_total += lines[i].amount
    out.cap = t.max_percent
    if total + discounts > 0 and lk_share_above(discounts, total + discounts, t.threshold):
        out.cap = t.reduced_percent
    max_redeemable = redeemable_total * out.cap // 10000
    if has_balance:
        if balance < max_redeemable:
            max_redeemable = balance if balance > 0 else 0
    out.max_redeemable = max_redeemable
    out.k_receipt = k_receipt_of(t, total)
    if redeem > max_redeemable:
        out.status = 1
        out.accrued = 0
        return 1
    allocate(redeem, lines, n, redeemable_total, redeemed, ranks)

    factor = <uint64_t>(percent * k_time * out.k_receipt * t.ppm)  # <= 9 * 10**17
    for i in range(n):
        base = lines[i].amount if t.accrue_on_redeemed else lines[i].amount - redeemed[i]
        if base <= 0 or lines[i].k_item == 0 or factor == 0:
            points[i] = 0
            continue
        a = <lk_u128>(<uint64_t>base * <uint64_t>lines[i].k_item) * factor
        if lines[i].kc_den == 0:
            p = lk_div_e16(a)
        else:
            p = lk_muldiv(a, lines[i].kc_num, lines[i].kc_den)
        points[i] = <int64_t>p
        accrued += <int64_t>p
    if t.total_step > 1:
        accrued = take_step(points, n, t.total_step, accrued, ranks)
    out.accrued = accrued
    out.status = 0
    return 0


cdef inline void campaign_fraction(LineIn *line, lk_frac *f, int count) noexcept nogil:
    if count == 0:
        line.kc_den = 0
    elif lk_frac_over_100(f):
        line.kc_num = 100
        line.kc_den = 1
    else:
        line.kc_num = lk_frac_num(f)
        line.kc_den = f.den


cdef inline int64_t days_before_year(int64_t year) noexcept nogil:
    cdef int64_t y = year - 1
    return y * 365 + y // 4 - y // 100 + y // 400


cdef int64_t date_ordinal(int64_t year, int64_t month, int64_t day) noexcept nogil:
    """``datetime.date(year, month, day).toordinal()``."""
    cdef int64_t before_month[13]
    before_month[:] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
    cdef int64_t days = days_before_year(year) + before_month[month] + day
    if month > 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days += 1
    return days
