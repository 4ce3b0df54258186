# cython: language_level=3, embedsignature=True, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Cython accrual kernel. Its specification is ``shared/_accrual_py.py``.

Two entry points, one arithmetic core (``quote_lines``, ``nogil``):

* :class:`Calculator` quotes one receipt at a time with low call overhead (the
  store agent's hot path) and computes refunds. It answers exactly what the
  reference answers, and raises exactly what it raises, for every input:
  anything outside the ranges the integer widths below are proven on (never
  the case for parsed inputs) is handed to the reference.
* :func:`quote_columns` quotes many receipts laid out in columns by
  ``shared/batch.py``, in parallel over receipts (OpenMP).

Exactness. A line earns ``floor(A * Kc_num / (10**16 * Kc_den))`` with
``A = base * P * Ki * Kt * Kr * PPM`` (docs/accrual.md). In the documented
ranges ``A <= 10**10 * 10**4 * (10**5)**3 * 9000 = 9 * 10**32`` fits an
unsigned 128-bit integer and the result fits int64. Without a campaign it is
one 128-by-64-bit division. With campaigns (``Kc_num / Kc_den <= 100``,
``Kc_den <= 10**15``), writing ``A = q * 10**16 + r`` and
``q * Kc_num = a * Kc_den + b``::

    floor(A * Kc_num / (10**16 * Kc_den)) = a + floor((b * 10**16 + r * Kc_num) / (10**16 * Kc_den))

where every product stays below 2**128, so no 192-bit arithmetic is needed.
The lookups (which k applies) come from ``shared/tables.py``, computed by the
reference's own helpers. No floating point anywhere.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t, INT64_MAX
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset
from cpython.datetime cimport (
    PyDateTime_Check,
    PyDateTime_DATE_GET_HOUR,
    PyDateTime_GET_DAY,
    PyDateTime_GET_MONTH,
    PyDateTime_GET_YEAR,
    import_datetime,
)
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cython.parallel cimport prange, threadid

from shared import _accrual_py as _reference
from shared import tables as _tables
from shared.errors import RedeemOverLimit, RefundError
from shared.receipts import NO_TERMS, Campaign, Reward, PERCENT_OFF, MONEY_OFF, FIXED_POINTS, MAX_REWARDS
from shared.receipts import MAX_REWARD_POINTS as _MAX_REWARD_POINTS
from shared.results import LineQuote, LineRefund, Quote, Refund

import_datetime()

include "_core.pxi"


# -- Python-object helpers of the single-receipt path ------------------------------------


cdef inline bint as_int64(object value, int64_t low, int64_t high, int64_t *out) except -1:
    """Whether ``value`` is an int within [low, high]; stores it in ``out``."""
    cdef int overflow = 0
    cdef long long v
    if not PyLong_Check(value):
        return False
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < low or v > high:
        return False
    out[0] = v
    return True


cdef inline object new_tuple(object cls, tuple values):
    return tuple.__new__(cls, values)


cdef int64_t *int64_array(values) except NULL:
    cdef Py_ssize_t i, n = len(values)
    cdef int64_t *out = <int64_t *>malloc((n if n else 1) * sizeof(int64_t))
    if out == NULL:
        raise MemoryError()
    for i in range(n):
        out[i] = values[i]
    return out


cdef uint8_t *uint8_array(values) except NULL:
    cdef Py_ssize_t i, n = len(values)
    cdef uint8_t *out = <uint8_t *>malloc(n + 1)
    if out == NULL:
        raise MemoryError()
    for i in range(n):
        out[i] = values[i]
    return out


cdef class Calculator:
    """The kernel bound to one rule set: same interface and answers as the reference's Calculator."""

    engine = "native"

    cdef readonly object rules
    #: False when the rule set is past the kernel's ranges (built by hand): the reference answers
    cdef readonly bint kernel_ready
    cdef Tables t
    cdef object zone
    cdef dict product_index  # sku -> index into the product arrays
    cdef list product_category  # index -> the product's category (str or None)
    cdef int64_t *product_k  # -1: none
    cdef uint8_t *product_redeemable
    cdef int64_t *product_category_id  # -1: no category, else an index into the category arrays
    cdef dict category_index  # name -> index into the category arrays
    cdef int64_t *category_k_item
    cdef uint8_t *category_redeemable
    cdef dict level_percent

    def __dealloc__(self):
        self._release()

    cdef void _release(self) noexcept:
        free(self.t.date_ordinal)
        free(self.t.date_k)
        free(self.t.tier_from)
        free(self.t.tier_k)
        free(self.product_k)
        free(self.product_redeemable)
        free(self.product_category_id)
        free(self.category_k_item)
        free(self.category_redeemable)
        # (a new object's pointers are NULL already: its memory is zeroed on allocation)
        self.t.date_ordinal = self.t.date_k = self.t.tier_from = self.t.tier_k = NULL
        self.product_k = self.product_category_id = self.category_k_item = NULL
        self.product_redeemable = self.category_redeemable = NULL

    def __init__(self, rules):
        """Compile ``rules`` once into C tables (see shared/tables.py)."""
        self._release()  # __init__ called again: compile afresh
        self.rules = rules
        self.kernel_ready = _tables.kernel_can_run(rules)
        if not self.kernel_ready:
            return
        self.zone = rules.zone()
        red = rules.redemption
        self.t.base_percent = rules.base_percent
        self.t.ppm = rules.points_per_money
        self.t.total_step = rules.total_step
        self.t.max_percent = red.max_percent
        self.t.reduced_percent = red.reduced_max_percent
        self.t.threshold = red.discount_threshold_percent
        self.t.accrue_on_redeemed = bool(red.accrue_on_redeemed)
        for i, k in enumerate(_tables.week_table(rules)):
            self.t.week[i] = k
        dates = sorted(_tables.date_table(rules).items())
        self.t.n_dates = len(dates)
        self.t.date_ordinal = int64_array([d for d, _ in dates])
        self.t.date_k = int64_array([k for _, k in dates])
        self.t.n_tiers = len(rules.receipt_tiers)
        self.t.tier_from = int64_array([tier.from_amount for tier in rules.receipt_tiers])
        self.t.tier_k = int64_array([tier.k for tier in rules.receipt_tiers])

        names = _tables.category_names(rules)
        self.category_index = {name: i for i, name in enumerate(names)}
        entries = [_tables.category_entry(rules, name) for name in names]
        self.category_k_item = int64_array([e.k_item for e in entries])
        self.category_redeemable = uint8_array([e.redeemable for e in entries])

        skus = list(rules.products)
        self.product_index = {sku: i for i, sku in enumerate(skus)}
        products = [_tables.product_entry(rules, sku) for sku in skus]
        self.product_category = [p.category for p in products]
        self.product_k = int64_array([p.k for p in products])
        self.product_category_id = int64_array(
            [self.category_index[p.category] if p.category is not None else -1 for p in products]
        )
        self.product_redeemable = uint8_array([p.redeemable for p in products])
        self.level_percent = _tables.level_percents(rules)

    def quote(self, receipt, terms=NO_TERMS, balance=None, campaigns=(), rewards=()):
        """Accrual per line and total, maximum redeemable, allocation of ``receipt.redeem``;
        promotions' ``rewards`` (discounts, fixed points) as the reference applies them.

        :raises RedeemOverLimit: the receipt asks to redeem more than the maximum.
        """
        cdef object quote = None
        if self.kernel_ready:
            try:
                quote = self._quote(receipt, terms, balance, campaigns, rewards)
            except (TypeError, OverflowError, AttributeError):
                quote = None  # an input of an unexpected type: the reference says what happens
        if quote is None:
            return _reference.quote(self.rules, receipt, terms, balance, campaigns, rewards)
        return quote

    cdef int64_t _percent(self, terms) except -2:
        """The percent (x100) of step 5, or -1 when it is outside the kernel's range."""
        cdef int64_t percent
        value = terms.store_percent
        if value is None:
            value = terms.network_percent
        if value is None and terms.level is not None:
            value = self.level_percent.get(terms.level)
        if value is None:
            return self.t.base_percent
        if not as_int64(value, 0, MAX_PERCENT, &percent):
            return -1
        return percent

    cdef object _quote(self, receipt, terms, balance, campaigns, rewards):
        """The kernel's quote, or None when an input is past the documented ranges."""
        cdef LineIn stack_lines[STACK_LINES]
        cdef int64_t stack_points[STACK_LINES]
        cdef int64_t stack_redeemed[STACK_LINES]
        cdef Rank stack_ranks[STACK_LINES]
        cdef LineIn *lines = stack_lines
        cdef int64_t *points = stack_points
        cdef int64_t *redeemed = stack_redeemed
        cdef Rank *ranks = stack_ranks
        cdef void *heap = NULL
        cdef Py_ssize_t i, j, n
        cdef int64_t k_time, percent, redeem, balance_value = 0, product, category_id
        cdef int64_t ks[MAX_CAMPAIGNS]
        cdef int64_t total = 0, day
        cdef int overflow = 0, n_campaigns, count, status
        cdef bint has_balance = balance is not None
        cdef lk_frac fraction
        cdef Totals totals
        cdef object line, sku, category
        cdef list filters = []  # (skus, categories) of each campaign; None, None: every line
        cdef Py_ssize_t n_rewards = len(rewards), r
        cdef int64_t *reward_values = NULL  # [n_rewards * n]: money off or fixed points per line
        cdef int64_t *weights = NULL
        cdef int64_t *quantities = NULL
        cdef int64_t *original = NULL
        cdef uint8_t *match = NULL
        cdef int64_t value, per_units, units, sum_weights, given
        cdef int kind
        cdef list line_keys = []  # (sku, category) of each line, for the rewards

        source = receipt.lines
        local = receipt.at.astimezone(self.zone)
        if not PyDateTime_Check(local):
            return None
        n = len(source)
        if n > STACK_LINES:
            heap = malloc(n * (sizeof(LineIn) + 2 * sizeof(int64_t) + sizeof(Rank)))
            if heap == NULL:
                raise MemoryError()
            lines = <LineIn *>heap
            points = <int64_t *>(lines + n)
            redeemed = points + n
            ranks = <Rank *>(redeemed + n)
        try:
            n_campaigns = len(campaigns)
            if n_campaigns > MAX_CAMPAIGNS:
                return None
            for j, campaign in enumerate(campaigns):
                if type(campaign) is not Campaign or not as_int64(campaign.k, 0, MAX_K, &ks[j]):
                    return None
                filters.append((campaign.skus, campaign.categories))

            for i in range(n):
                line = source[i]
                if not as_int64(line.amount, 0, MAX_AMOUNT, &lines[i].amount):
                    return None
                if not as_int64(line.discount, 0, MAX_AMOUNT, &lines[i].discount):
                    return None
                total += lines[i].amount
                sku = line.sku
                category = line.category
                product = category_id = -1
                if sku is not None:
                    index = self.product_index.get(sku)
                    if index is not None:
                        product = index
                if category is not None:
                    index = self.category_index.get(category)
                    if index is not None:
                        category_id = index
                elif product >= 0:  # the receipt sends no category: the product's
                    category = self.product_category[product]
                    category_id = self.product_category_id[product]
                if product >= 0 and self.product_k[product] >= 0:
                    lines[i].k_item = self.product_k[product]
                elif category_id >= 0:
                    lines[i].k_item = self.category_k_item[category_id]
                else:
                    lines[i].k_item = K_ONE
                lines[i].redeemable = (product < 0 or self.product_redeemable[product]) and (
                    category_id < 0 or self.category_redeemable[category_id]
                )
                fraction.num = 1
                fraction.den = 1
                count = 0
                for j in range(n_campaigns):
                    skus, categories = filters[j]
                    if (skus is None and categories is None) or (skus is not None and sku in skus) or (
                        categories is not None and category in categories
                    ):
                        lk_frac_mul(&fraction, ks[j])
                        count += 1
                campaign_fraction(&lines[i], &fraction, count)
                if n_rewards:
                    line_keys.append((sku, category))
            if total > MAX_AMOUNT:
                return None
            if n_rewards:
                if n_rewards > MAX_REWARDS:
                    return None
                reward_values = <int64_t *>malloc(n_rewards * n * sizeof(int64_t) + 3 * n * sizeof(int64_t) + n + 1)
                if reward_values == NULL:
                    raise MemoryError()
                weights = reward_values + n_rewards * n
                quantities = weights + n
                original = quantities + n
                match = <uint8_t *>(original + n)
                for i in range(n):
                    original[i] = lines[i].amount
                    if not as_int64(source[i].quantity, 0, INT64_MAX // (2 * 10000), &quantities[i]):
                        return None
                for r in range(n_rewards):
                    reward = rewards[r]
                    if type(reward) is not Reward:
                        return None
                    if reward.kind == PERCENT_OFF:
                        kind = 1
                        if not as_int64(reward.value, 0, MAX_PERCENT, &value):
                            return None
                    elif reward.kind == MONEY_OFF:
                        kind = 2
                        if not as_int64(reward.value, 0, MAX_AMOUNT, &value):
                            return None
                    elif reward.kind == FIXED_POINTS:
                        kind = 3
                        if not as_int64(reward.value, 0, _MAX_REWARD_POINTS, &value):
                            return None
                        if not as_int64(reward.per_units, -INT64_MAX, INT64_MAX, &per_units):
                            return None
                    else:
                        kind = 0
                    skus, categories = reward.skus, reward.categories
                    for i in range(n):
                        sku, category = line_keys[i]
                        match[i] = (skus is None and categories is None) or (skus is not None and sku in skus) or (
                            categories is not None and category in categories
                        )
                    with nogil:
                        apply_reward(lines, n, kind, value, match, weights, reward_values + r * n, ranks)

            day = date_ordinal(PyDateTime_GET_YEAR(local), PyDateTime_GET_MONTH(local), PyDateTime_GET_DAY(local))
            k_time = k_time_of(&self.t, day, (day - 1) % 7 + 1, PyDateTime_DATE_GET_HOUR(local))
            percent = self._percent(terms)
            if percent < 0:
                return None
            if has_balance:
                if not PyLong_Check(balance):
                    return None
                balance_value = PyLong_AsLongLongAndOverflow(balance, &overflow)
                if overflow:  # far past any maximum: no limit, or none at all
                    balance_value = INT64_MAX if overflow > 0 else -1
            requested = receipt.redeem
            if not PyLong_Check(requested):
                return None
            redeem = PyLong_AsLongLongAndOverflow(requested, &overflow)
            if overflow > 0:
                redeem = INT64_MAX
            elif overflow < 0 or redeem < 0:
                return None

            with nogil:
                status = quote_lines(&self.t, lines, n, percent, k_time, redeem, has_balance, balance_value,
                                     points, redeemed, ranks, &totals)
            if status:
                raise RedeemOverLimit(requested, totals.max_redeemable)
            if n_rewards:
                return self._with_rewards(rewards, lines, n, points, redeemed, ranks, &totals, requested, percent,
                                          k_time, reward_values, weights, quantities, original, match, line_keys)
            out = PyTuple_New(n)
            for i in range(n):
                item = new_tuple(
                    LineQuote, (points[i], redeemed[i], lines[i].k_item, lines[i].redeemable, 0, 0)
                )
                Py_INCREF(item)
                PyTuple_SET_ITEM(out, i, item)
            return new_tuple(
                Quote,
                (totals.accrued, requested, totals.max_redeemable, out, percent, k_time, totals.k_receipt, totals.cap,
                 0, 0, ()),
            )
        finally:
            free(heap)
            free(reward_values)

    cdef object _with_rewards(self, rewards, LineIn *lines, Py_ssize_t n, int64_t *points, int64_t *redeemed,
                              Rank *ranks, Totals *totals, requested, int64_t percent, int64_t k_time,
                              int64_t *reward_values, int64_t *weights, int64_t *quantities, int64_t *original,
                              uint8_t *match, list line_keys):
        """Fixed points after total_step, and the quote with each reward's values per line."""
        cdef Py_ssize_t i, r, n_rewards = len(rewards)
        cdef int64_t per_units, units, total_points, sum_weights, off_total = 0, bonus_total = 0
        cdef int64_t accrued = totals.accrued
        for r in range(n_rewards):
            reward = rewards[r]
            if reward.kind != FIXED_POINTS:
                continue
            skus, categories = reward.skus, reward.categories
            per_units = reward.per_units
            units = 0
            sum_weights = 0
            for i in range(n):
                sku, category = line_keys[i]
                match[i] = (skus is None and categories is None) or (skus is not None and sku in skus) or (
                    categories is not None and category in categories
                )
                weights[i] = lines[i].amount if match[i] else 0
                sum_weights += weights[i]
                if match[i]:
                    units += quantities[i]
            total_points = reward.value
            if per_units > 0:
                units = units // per_units
                if units > 0 and total_points > _MAX_REWARD_POINTS // units:
                    total_points = _MAX_REWARD_POINTS
                else:
                    total_points = total_points * units
            split_weights(total_points, weights, n, sum_weights, reward_values + r * n, ranks)
            for i in range(n):
                points[i] += reward_values[r * n + i]
                accrued += reward_values[r * n + i]
        out = PyTuple_New(n)
        for i in range(n):
            bonus = 0
            for r in range(n_rewards):
                if rewards[r].kind == FIXED_POINTS:
                    bonus += reward_values[r * n + i]
            off = original[i] - lines[i].amount
            off_total += off
            bonus_total += bonus
            item = new_tuple(LineQuote, (points[i], redeemed[i], lines[i].k_item, lines[i].redeemable, off, bonus))
            Py_INCREF(item)
            PyTuple_SET_ITEM(out, i, item)
        per_reward = tuple([tuple([reward_values[r * n + i] for i in range(n)]) for r in range(n_rewards)])
        return new_tuple(
            Quote,
            (accrued, requested, totals.max_redeemable, out, percent, k_time, totals.k_receipt, totals.cap,
             off_total, bonus_total, per_reward),
        )

    def refund(self, lines, already, request):
        """Points taken back and given back for returning ``request`` ({line index: quantity x1000}).

        :raises RefundError: unknown line, non-positive quantity, or more than is left.
        """
        cdef Py_ssize_t index, n = len(lines)
        cdef int64_t quantity, returned, total_quantity, before_quantity
        cdef int64_t got[3]
        cdef int64_t values[3]
        cdef int64_t taken[3]
        cdef uint64_t rem
        cdef int i
        previous = list(already) if already is not None else [LineRefund()] * n
        problems = _reference.refund_problems(lines, previous, request)
        if problems:
            raise RefundError(problems)
        out = []
        for index in range(n):
            asked = request.get(index, 0)
            if asked == 0:
                out.append(LineRefund())
                continue
            line = lines[index]
            before = previous[index]
            if not (
                as_int64(asked, 1, INT64_MAX // 2, &quantity)
                and as_int64(before.quantity, 0, INT64_MAX // 2, &before_quantity)
                and as_int64(line.quantity, 0, INT64_MAX, &total_quantity)
                and as_int64(line.amount, 0, INT64_MAX, &values[0])
                and as_int64(line.accrued, 0, INT64_MAX, &values[1])
                and as_int64(line.redeemed, 0, INT64_MAX, &values[2])
                and as_int64(before.amount, 0, INT64_MAX, &taken[0])
                and as_int64(before.accrued, 0, INT64_MAX, &taken[1])
                and as_int64(before.redeemed, 0, INT64_MAX, &taken[2])
            ):
                return _reference.refund(lines, already, request)
            if total_quantity == 0:  # sold with quantity 0: one unit, returned whole (shared/_accrual_py.py)
                total_quantity = 1000
            returned = before_quantity + quantity  # <= total_quantity: checked above
            for i in range(3):
                got[i] = <int64_t>lk_share(values[i], returned, total_quantity, &rem) - taken[i]
            out.append(new_tuple(LineRefund, (asked, got[0], got[1], got[2])))
        return new_tuple(
            Refund,
            (
                tuple(out),
                sum([r.amount for r in out]),
                sum([r.accrued for r in out]),
                sum([r.redeemed for r in out]),
            ),
        )


include "_batch.pxi"
