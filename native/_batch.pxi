# The batch entry point (included by _accrual.pyx): receipts in the columns of shared/batch.py.

cdef struct Columns:
    # raw pointers into shared/batch.py's arrays (see its docstring for the layout)
    const int64_t *line_start
    const int32_t *day
    const int8_t *weekday
    const int8_t *hour
    const int64_t *redeem
    const int64_t *balance
    const uint8_t *has_balance
    const int32_t *store_percent
    const int32_t *network_percent
    const int32_t *level
    const int64_t *campaign_start
    const int32_t *campaign
    const int32_t *sku
    const int32_t *category
    const int64_t *amount
    const int64_t *discount
    const int64_t *quantity
    const int32_t *campaign_k
    const uint8_t *campaign_all
    const uint8_t *campaign_kind
    const int64_t *campaign_value
    const int64_t *campaign_per_units
    const int64_t *campaign_sku_start
    const int32_t *campaign_sku
    const int64_t *campaign_category_start
    const int32_t *campaign_category
    const int32_t *product_k
    const uint8_t *product_redeemable
    const int32_t *product_category
    const int32_t *category_k_item
    const uint8_t *category_redeemable
    const int32_t *level_percent
    # dense membership (campaign x sku, campaign x category), or NULL: binary search in the sorted lists
    const uint8_t *sku_bits
    const uint8_t *category_bits
    int64_t n_skus
    int64_t n_categories
    int64_t *line_accrued
    int64_t *line_redeemed
    int64_t *line_discount
    int64_t *accrued
    int64_t *redeemed
    int64_t *max_redeemable
    int8_t *status


cdef inline bint contains(const int32_t *values, int64_t lo, int64_t hi, int32_t x) noexcept nogil:
    """Binary search of ``x`` in the sorted ``values[lo:hi]``."""
    cdef int64_t end = hi, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and values[lo] == x


cdef inline bint column_match(const Columns *c, int32_t campaign, int32_t sku, int32_t category) noexcept nogil:
    if c.sku_bits != NULL:
        return c.campaign_all[campaign] or (sku >= 0 and c.sku_bits[campaign * c.n_skus + sku]) or (
            category >= 0 and c.category_bits[campaign * c.n_categories + category]
        )
    return c.campaign_all[campaign] or (
        sku >= 0 and contains(c.campaign_sku, c.campaign_sku_start[campaign], c.campaign_sku_start[campaign + 1], sku)
    ) or (
        category >= 0 and contains(c.campaign_category, c.campaign_category_start[campaign],
                                   c.campaign_category_start[campaign + 1], category)
    )


cdef inline int32_t line_category(const Columns *c, int64_t line) noexcept nogil:
    cdef int32_t sku = c.sku[line], category = c.category[line]
    if category < 0 and sku >= 0:
        category = c.product_category[sku]
    return category


cdef void quote_column_receipt(const Tables *t, const Columns *c, Py_ssize_t r,
                               LineIn *lines, Rank *ranks, uint8_t *match, int64_t *weights,
                               int64_t *taken, uint32_t *masks) noexcept nogil:
    cdef int64_t start = c.line_start[r], n = c.line_start[r + 1] - start
    cdef int64_t first = c.campaign_start[r], last = c.campaign_start[r + 1]
    cdef int64_t percent, k_time, line, p
    cdef int32_t sku, category, campaign
    cdef Py_ssize_t i, j
    cdef int count, kind
    cdef bint rewards = False
    cdef lk_frac fraction
    cdef Totals totals
    cdef int64_t units, total_points, sum_weights, per_units
    cdef uint32_t bit, matched = 0  # the entries that match some line of the receipt

    if c.store_percent[r] >= 0:
        percent = c.store_percent[r]
    elif c.network_percent[r] >= 0:
        percent = c.network_percent[r]
    elif c.level[r] >= 0 and c.level_percent[c.level[r]] >= 0:
        percent = c.level_percent[c.level[r]]
    else:
        percent = t.base_percent
    k_time = k_time_of(t, c.day[r], c.weekday[r], c.hour[r])

    for i in range(n):
        line = start + i
        sku = c.sku[line]
        category = c.category[line]
        if category < 0 and sku >= 0:
            category = c.product_category[sku]
        lines[i].amount = c.amount[line]
        lines[i].discount = c.discount[line]
        if sku >= 0 and c.product_k[sku] >= 0:
            lines[i].k_item = c.product_k[sku]
        elif category >= 0:
            lines[i].k_item = c.category_k_item[category]
        else:
            lines[i].k_item = K_ONE
        lines[i].redeemable = (sku < 0 or c.product_redeemable[sku]) and (
            category < 0 or c.category_redeemable[category]
        )
        fraction.num = 1
        fraction.den = 1
        count = 0
        masks[i] = 0  # bit j - first: the receipt's entry j matches this line (at most 25 entries)
        for j in range(first, last):
            campaign = c.campaign[j]
            if column_match(c, campaign, sku, category):
                masks[i] |= (<uint32_t>1) << (j - first)
                if c.campaign_kind[campaign] == 0:
                    lk_frac_mul(&fraction, c.campaign_k[campaign])
                    count += 1
            if c.campaign_kind[campaign]:
                rewards = True
        matched |= masks[i]
        campaign_fraction(&lines[i], &fraction, count)

    if rewards:  # promotions' discounts, in their order, before accrual and redemption
        for j in range(first, last):
            campaign = c.campaign[j]
            kind = c.campaign_kind[campaign]
            bit = (<uint32_t>1) << (j - first)
            if (kind != 1 and kind != 2) or not (matched & bit):
                continue
            for i in range(n):
                match[i] = (masks[i] & bit) != 0
            apply_reward(lines, n, kind, c.campaign_value[campaign], match, weights, taken, ranks)

    c.status[r] = <int8_t>quote_lines(t, lines, n, percent, k_time, c.redeem[r], c.has_balance[r], c.balance[r],
                                      &c.line_accrued[start], &c.line_redeemed[start], ranks, &totals)
    c.max_redeemable[r] = totals.max_redeemable
    if c.status[r]:
        memset(&c.line_accrued[start], 0, n * sizeof(int64_t))
        memset(&c.line_redeemed[start], 0, n * sizeof(int64_t))
        memset(&c.line_discount[start], 0, n * sizeof(int64_t))
        c.accrued[r] = 0
        c.redeemed[r] = 0
        return
    c.accrued[r] = totals.accrued
    c.redeemed[r] = c.redeem[r]
    for i in range(n):
        c.line_discount[start + i] = c.amount[start + i] - lines[i].amount
    if not rewards:
        return
    for j in range(first, last):  # fixed points after total_step, split by the discounted amounts
        campaign = c.campaign[j]
        bit = (<uint32_t>1) << (j - first)
        if c.campaign_kind[campaign] != 3 or not (matched & bit):
            continue  # a reward matching no line gives nothing
        units = 0
        sum_weights = 0
        for i in range(n):
            match[i] = (masks[i] & bit) != 0
            weights[i] = lines[i].amount if match[i] else 0
            sum_weights += weights[i]
            if match[i]:
                units += c.quantity[start + i]
        total_points = c.campaign_value[campaign]
        per_units = c.campaign_per_units[campaign]
        if per_units > 0:
            units = units // per_units
            if units > 0 and total_points > MAX_REWARD_POINTS_C // units:
                total_points = MAX_REWARD_POINTS_C
            else:
                total_points = total_points * units
        split_weights(total_points, weights, n, sum_weights, taken, ranks)
        for i in range(n):
            c.line_accrued[start + i] += taken[i]
            c.accrued[r] += taken[i]


# Raw pointers into arrays (NULL for an empty one, never dereferenced then). The arrays
# are kept alive by ``keep`` for the whole batch; a wrong dtype raises here.
cdef const int64_t *p64(object array, list keep) except? NULL:
    cdef const int64_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


cdef const int32_t *p32(object array, list keep) except? NULL:
    cdef const int32_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


cdef const int8_t *p8(object array, list keep) except? NULL:
    cdef const int8_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


cdef const uint8_t *pu8(object array, list keep) except? NULL:
    cdef const uint8_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


cdef int64_t *w64(object array, list keep) except? NULL:
    cdef int64_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


cdef int8_t *w8(object array, list keep) except? NULL:
    cdef int8_t[::1] view = array
    keep.append(array)
    return &view[0] if view.shape[0] else NULL


def quote_columns(Calculator calc, prepared, tables, out, int threads=1):
    """Quote every receipt of ``prepared`` (shared/batch.py) into ``out``'s arrays.

    ``tables`` holds the rule set's lookups over the prepared vocabularies;
    receipts run on ``threads`` OpenMP threads (one when built without OpenMP), the GIL released.
    """
    if not calc.kernel_ready:
        raise ValueError("the rule set is past the kernel's ranges; use the reference")
    check_lengths(prepared, tables, out)
    cdef Columns c
    cdef Py_ssize_t r, n = prepared.line_start.shape[0] - 1
    cdef int64_t longest = prepared.longest
    cdef Py_ssize_t stride = longest + 1
    cdef LineIn *lines
    cdef Rank *ranks
    cdef uint8_t *match
    cdef int64_t *scratch
    cdef uint32_t *masks
    cdef const Tables *t
    cdef list keep = []  # the arrays behind the raw pointers, alive until the end
    c.line_start = p64(prepared.line_start, keep)
    c.day = p32(prepared.day, keep)
    c.weekday = p8(prepared.weekday, keep)
    c.hour = p8(prepared.hour, keep)
    c.redeem = p64(prepared.redeem, keep)
    c.balance = p64(prepared.balance, keep)
    c.has_balance = pu8(prepared.has_balance, keep)
    c.store_percent = p32(prepared.store_percent, keep)
    c.network_percent = p32(prepared.network_percent, keep)
    c.level = p32(prepared.level, keep)
    c.campaign_start = p64(prepared.campaign_start, keep)
    c.campaign = p32(prepared.campaign, keep)
    c.sku = p32(prepared.sku, keep)
    c.category = p32(prepared.category, keep)
    c.amount = p64(prepared.amount, keep)
    c.discount = p64(prepared.discount, keep)
    c.quantity = p64(prepared.quantity, keep)
    c.campaign_k = p32(prepared.campaign_k, keep)
    c.campaign_all = pu8(prepared.campaign_all, keep)
    c.campaign_kind = pu8(prepared.campaign_kind, keep)
    c.campaign_value = p64(prepared.campaign_value, keep)
    c.campaign_per_units = p64(prepared.campaign_per_units, keep)
    c.campaign_sku_start = p64(prepared.campaign_sku_start, keep)
    c.campaign_sku = p32(prepared.campaign_sku, keep)
    c.campaign_category_start = p64(prepared.campaign_category_start, keep)
    c.campaign_category = p32(prepared.campaign_category, keep)
    c.product_k = p32(tables.product_k, keep)
    c.product_redeemable = pu8(tables.product_redeemable, keep)
    c.product_category = p32(tables.product_category, keep)
    c.category_k_item = p32(tables.category_k_item, keep)
    c.category_redeemable = pu8(tables.category_redeemable, keep)
    c.level_percent = p32(tables.level_percent, keep)
    # dense membership tables when small (at most 64 MB): one byte test per line and campaign
    n_campaigns, n_skus, n_cats = len(prepared.campaign_k), len(prepared.skus), len(tables.category_k_item)
    c.sku_bits = c.category_bits = NULL
    c.n_skus, c.n_categories = n_skus, n_cats
    if n_campaigns and n_campaigns * (n_skus + n_cats) <= 64 * 2**20:
        import numpy as _np

        sku_bits = _np.zeros((n_campaigns, max(n_skus, 1)), _np.uint8)
        cat_bits = _np.zeros((n_campaigns, max(n_cats, 1)), _np.uint8)
        owners = _np.repeat(_np.arange(n_campaigns), _np.diff(prepared.campaign_sku_start))
        sku_bits[owners, prepared.campaign_sku] = 1
        owners = _np.repeat(_np.arange(n_campaigns), _np.diff(prepared.campaign_category_start))
        cat_bits[owners, prepared.campaign_category] = 1
        c.n_skus, c.n_categories = max(n_skus, 1), max(n_cats, 1)
        c.sku_bits = pu8(sku_bits.reshape(-1), keep)
        c.category_bits = pu8(cat_bits.reshape(-1), keep)
    c.line_accrued = w64(out.line_accrued, keep)
    c.line_redeemed = w64(out.line_redeemed, keep)
    c.line_discount = w64(out.line_discount, keep)
    c.accrued = w64(out.accrued, keep)
    c.redeemed = w64(out.redeemed, keep)
    c.max_redeemable = w64(out.max_redeemable, keep)
    c.status = w8(out.status, keep)

    threads = max(threads, 1)
    t = &calc.t
    # one scratch row per thread, allocated here so that a failure raises MemoryError
    lines = <LineIn *>malloc(threads * stride * sizeof(LineIn))
    ranks = <Rank *>malloc(threads * stride * sizeof(Rank))
    match = <uint8_t *>malloc(threads * stride)
    scratch = <int64_t *>malloc(2 * threads * stride * sizeof(int64_t))
    masks = <uint32_t *>malloc(threads * stride * sizeof(uint32_t))
    try:
        if lines == NULL or ranks == NULL or match == NULL or scratch == NULL or masks == NULL:
            raise MemoryError()
        with nogil:
            for r in prange(n, schedule="guided", num_threads=threads):
                quote_column_receipt(t, &c, r, lines + threadid() * stride, ranks + threadid() * stride,
                                     match + threadid() * stride, scratch + 2 * threadid() * stride,
                                     scratch + (2 * threadid() + 1) * stride, masks + threadid() * stride)
    finally:
        free(lines)
        free(ranks)
        free(match)
        free(scratch)
        free(masks)


def check_lengths(prepared, tables, out):
    """Refuse arrays that do not belong together (the loop trusts every index)."""
    n = len(prepared.line_start) - 1
    m = prepared.line_start[n] if n >= 0 else 0
    j = len(prepared.campaign_k)
    expected = {
        "receipts": ([prepared.day, prepared.weekday, prepared.hour, prepared.redeem, prepared.balance,
                      prepared.has_balance, prepared.store_percent, prepared.network_percent, prepared.level,
                      out.accrued, out.redeemed, out.max_redeemable, out.status], n),
        "receipts + 1": ([prepared.campaign_start], n + 1),
        "lines": ([prepared.sku, prepared.category, prepared.amount, prepared.discount, prepared.quantity,
                   out.line_accrued, out.line_redeemed, out.line_discount], m),
        "campaigns": ([prepared.campaign_all, prepared.campaign_kind, prepared.campaign_value,
                       prepared.campaign_per_units], j),
        "campaigns + 1": ([prepared.campaign_sku_start, prepared.campaign_category_start], j + 1),
        "skus": ([tables.product_k, tables.product_redeemable, tables.product_category], len(prepared.skus)),
        "categories": ([tables.category_redeemable], len(tables.category_k_item)),
        "levels": ([tables.level_percent], len(prepared.levels)),
    }
    for what, (arrays, size) in expected.items():
        if n < 0 or any(len(a) != size for a in arrays):
            raise ValueError(f"columns of different lengths ({what}): prepare them with shared/columns.py")
    if len(tables.category_k_item) < len(prepared.categories):
        raise ValueError("the lookup tables belong to other columns: build them with shared/batch.py")
