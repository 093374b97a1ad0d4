"""Synthetic transaction logs for examples, tests and benchmarks.

The generator is pure numpy + pyarrow (pandas / polars are imported only when
such a frame is requested) and fully vectorised, so tens of millions of rows
take seconds.  It does not depend on the compiled core of :mod:`crm`.

Two entry points:

* :func:`synthetic` -- a log for ``n_customers`` customers; the number of rows
  is whatever the customer model gives (about 8.3 lines per customer on average
  with the default two-year window).
* :func:`synthetic_rows` -- a log with (by default exactly) ``n_rows`` rows,
  e.g. for benchmarks at 1M / 10M / 50M rows.

The model (a "buy till you die" process, like BG/NBD)
------------------------------------------------------
Every customer

* is acquired at a random time in ``[start, end]`` (more customers early in
  the window than late) and makes their first purchase then;
* buys at a Poisson rate drawn from a gamma distribution (mean about 8
  orders a year, heavily skewed: the median customer buys about 3 times a
  year, about 1.3 % buy weekly or more often);
* after every purchase becomes inactive for good with a probability ``p``
  drawn per customer from Beta(0.8, 3.2) (mean 0.2). Many customers therefore
  buy once, and a few buy dozens of times;
* has a home region (about 90 % of their orders), a preferred channel (about
  75 % of their orders) and a spending level. Unit prices are the product's
  list price times a lognormal per-customer factor (5 % are big spenders
  at three times the usual level) times lognormal noise per line.

An order has 1-4 lines (mean 1.85). Products go together: each later line of an
order is, with probability 0.35, the partner of the line before it (coffee beans and a
mug, shampoo and hand soap...), so baskets hold real associations for cross-selling. About 3 % of all rows are refunds. A
refund returns one earlier line of the same customer 1-30 days later, with
the same product, category, quantity, region and channel, minus the same
amount, and its own new ``order_id``. A refund that would fall after ``end``
is dropped. Times of day follow a daytime/evening profile, with whole seconds.

Columns
-------
=============  ==========================================  ==================================
column         type                                        meaning
=============  ==========================================  ==================================
customer_id    int64 (``key="int"``, ids 1..n) or string   customer key; strings look like
               (``key="str"``, e.g. ``"C0000042"``)        ``"C"`` + id zero-padded to 7
                                                           digits (wider if n >= 10**7)
order_id       int64                                       1, 2, ... unique per order; with
                                                           ``sort=True`` increasing with time
order_date     timestamp[us] (naive, or tz-aware with      time of the order (wall-clock
               ``tz``)                                     time in ``tz`` when given)
amount         float64, currency units, rounded to cents   line total = quantity x unit price;
                                                           negative for refunds
product        dictionary<int8, string> (50 products)      e.g. "Headphones", "Coffee Beans"
category       dictionary<int8, string> (8 categories)     category of the product
region         dictionary<int8, string> (6 regions)        "North", "South", ... "Overseas"
channel        dictionary<int8, string>                    "online", "store" or "app"
quantity       int64 >= 1                                  units on the line
=============  ==========================================  ==================================

The dictionary columns become ``category`` dtype in pandas and ``Categorical``
in polars. All lines of an order share ``customer_id``, ``order_id``,
``order_date``, ``region`` and ``channel``.

Example
-------
>>> from crm import datasets
>>> df = datasets.synthetic(1_000, seed=1)              # pandas, about 8.3k rows
>>> list(df.columns)
['customer_id', 'order_id', 'order_date', 'amount', 'product', 'category', 'region', 'channel', 'quantity']
>>> t = datasets.synthetic_rows(100_000, frame="pyarrow")   # exactly 100k rows, 10k customers
>>> t.num_rows
100000
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

__all__ = ["synthetic", "synthetic_rows", "tickets", "contacts", "surveys", "PRODUCTS", "CATEGORIES", "REGIONS", "CHANNELS"]

# --------------------------------------------------------------------------------------
# Catalog (fixed, independent of the seed)
# --------------------------------------------------------------------------------------

CATEGORIES = ("Electronics", "Clothing", "Home", "Beauty", "Sports", "Books", "Toys", "Grocery")

# (product, category, list price)
_CATALOG = (
    ("Headphones", "Electronics", 79.99),
    ("Smartwatch", "Electronics", 199.00),
    ("Phone Case", "Electronics", 19.99),
    ("Charger", "Electronics", 24.99),
    ("Bluetooth Speaker", "Electronics", 59.99),
    ("Tablet", "Electronics", 329.00),
    ("USB Cable", "Electronics", 9.99),
    ("T-Shirt", "Clothing", 14.99),
    ("Jeans", "Clothing", 49.99),
    ("Sneakers", "Clothing", 89.99),
    ("Jacket", "Clothing", 119.00),
    ("Socks", "Clothing", 7.99),
    ("Dress", "Clothing", 59.99),
    ("Hoodie", "Clothing", 39.99),
    ("Coffee Mug", "Home", 12.99),
    ("Bed Sheets", "Home", 44.99),
    ("Desk Lamp", "Home", 34.99),
    ("Towel Set", "Home", 29.99),
    ("Cookware Set", "Home", 149.00),
    ("Candle", "Home", 16.99),
    ("Storage Box", "Home", 21.99),
    ("Shampoo", "Beauty", 8.99),
    ("Face Cream", "Beauty", 29.99),
    ("Lipstick", "Beauty", 18.99),
    ("Perfume", "Beauty", 74.99),
    ("Sunscreen", "Beauty", 13.99),
    ("Hand Soap", "Beauty", 4.99),
    ("Yoga Mat", "Sports", 29.99),
    ("Dumbbells", "Sports", 54.99),
    ("Water Bottle", "Sports", 17.99),
    ("Running Shorts", "Sports", 24.99),
    ("Tennis Balls", "Sports", 6.99),
    ("Bike Helmet", "Sports", 64.99),
    ("Novel", "Books", 15.99),
    ("Cookbook", "Books", 27.99),
    ("Children's Book", "Books", 11.99),
    ("Notebook", "Books", 5.99),
    ("Comic", "Books", 9.99),
    ("Puzzle", "Toys", 19.99),
    ("Building Blocks", "Toys", 49.99),
    ("Plush Toy", "Toys", 14.99),
    ("Board Game", "Toys", 34.99),
    ("Toy Car", "Toys", 12.99),
    ("Doll", "Toys", 24.99),
    ("Coffee Beans", "Grocery", 16.99),
    ("Green Tea", "Grocery", 8.99),
    ("Chocolate", "Grocery", 4.99),
    ("Olive Oil", "Grocery", 12.99),
    ("Pasta", "Grocery", 3.49),
    ("Snack Box", "Grocery", 22.99),
)
PRODUCTS = tuple(p for p, _, _ in _CATALOG)
# What goes with what: a later line of an order is often (_PAIR_P) the partner of the line
# before it, so baskets hold the associations cross-selling looks for.
_PARTNERS = {
    "Headphones": "Charger", "Smartwatch": "Charger", "Phone Case": "USB Cable", "Charger": "USB Cable",
    "Bluetooth Speaker": "USB Cable", "Tablet": "Phone Case", "USB Cable": "Charger",
    "T-Shirt": "Jeans", "Jeans": "T-Shirt", "Sneakers": "Socks", "Jacket": "Hoodie", "Socks": "Sneakers",
    "Dress": "Lipstick", "Hoodie": "T-Shirt",
    "Coffee Mug": "Coffee Beans", "Bed Sheets": "Towel Set", "Desk Lamp": "Notebook", "Towel Set": "Bed Sheets",
    "Cookware Set": "Olive Oil", "Candle": "Storage Box", "Storage Box": "Candle",
    "Shampoo": "Hand Soap", "Face Cream": "Sunscreen", "Lipstick": "Perfume", "Perfume": "Lipstick",
    "Sunscreen": "Face Cream", "Hand Soap": "Shampoo",
    "Yoga Mat": "Water Bottle", "Dumbbells": "Water Bottle", "Water Bottle": "Running Shorts",
    "Running Shorts": "Water Bottle", "Tennis Balls": "Running Shorts", "Bike Helmet": "Water Bottle",
    "Novel": "Notebook", "Cookbook": "Olive Oil", "Children's Book": "Plush Toy", "Notebook": "Novel",
    "Comic": "Puzzle", "Puzzle": "Board Game", "Building Blocks": "Toy Car", "Plush Toy": "Children's Book",
    "Board Game": "Puzzle", "Toy Car": "Building Blocks", "Doll": "Plush Toy",
    "Coffee Beans": "Coffee Mug", "Green Tea": "Coffee Mug", "Chocolate": "Snack Box", "Olive Oil": "Pasta",
    "Pasta": "Olive Oil", "Snack Box": "Chocolate",
}
_PARTNER = np.array([PRODUCTS.index(_PARTNERS[p]) for p in PRODUCTS], dtype=np.int8)
_PAIR_P = 0.35
_MAX_LINES = 4
REGIONS = ("North", "South", "East", "West", "Central", "Overseas")
CHANNELS = ("online", "store", "app")

_PRICE = np.array([c[2] for c in _CATALOG], dtype=np.float64)
_CATEGORY_OF_PRODUCT = np.array([CATEGORIES.index(c[1]) for c in _CATALOG], dtype=np.int8)
# Skewed product popularity (Zipf-like over a fixed shuffle of the catalog).
_PRODUCT_W = 1.0 / (1.0 + (np.arange(len(_CATALOG)) * 7) % len(_CATALOG)) ** 0.7
_REGION_W = (0.22, 0.20, 0.22, 0.16, 0.15, 0.05)
_CHANNEL_W = (0.45, 0.35, 0.20)
_LINES_W = (0.50, 0.25, 0.15, 0.10)  # 1..4 lines per order
_QTY_W = tuple(0.72 * 0.28 ** k for k in range(8))  # 1..8 units, geometric-like
# Orders by hour of day (local wall-clock time).
_HOUR_W = (1.0, 0.6, 0.3, 0.2, 0.2, 0.3, 0.8, 1.8, 3.0, 4.0, 4.8, 5.4,
           6.0, 5.6, 5.0, 4.8, 5.0, 5.6, 6.4, 7.0, 7.0, 6.0, 4.2, 2.2)

# Model parameters.
_RATE_SHAPE = 0.45          # gamma shape of the purchase rate (heterogeneity)
_RATE_MEAN = 8.0 / 365.25   # mean purchase rate, per day
_DROP_A, _DROP_B = 0.8, 3.2  # beta parameters of the dropout probability
_ACQ_A, _ACQ_B = 1.0, 1.6   # beta parameters of the acquisition time (fraction of window)
_LEVEL_SD = 0.45            # sd of the log per-customer price factor
_BIG_SPENDER = (0.05, math.log(3.0))
_LINE_SD = 0.30             # sd of the log per-line price noise
_HOME_REGION = 0.90
_PREF_CHANNEL = 0.75
_REFUND_P = 0.0312          # chance that a purchase line is refunded (before dropping late ones)
_MEAN_LINES = float(np.dot(np.arange(1, 5), _LINES_W) / sum(_LINES_W))

_U16 = 1 << 16


def _table(weights, dtype=np.int8):
    """65536-entry inverse-CDF table: table[uint16 draw] -> category index."""
    w = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    u = (np.arange(_U16) + 0.5) / _U16
    return np.searchsorted(cdf, u, side="right").astype(dtype)


_PRODUCT_T = _table(_PRODUCT_W)
_REGION_T = _table(_REGION_W)
_CHANNEL_T = _table(_CHANNEL_W)
_LINES_T = (_table(_LINES_W) + 1).astype(np.int8)
_QTY_T = (_table(_QTY_W) + 1).astype(np.int64)
_HOUR_T = _table(_HOUR_W, np.int32)


def _binom_table(q):
    """_BINOM_T[L, u16] ~ Binomial(L, q) for L = 0..4."""
    out = np.zeros((5, _U16), dtype=np.int8)
    for n in range(1, 5):
        pmf = [math.comb(n, k) * q ** k * (1 - q) ** (n - k) for k in range(n + 1)]
        out[n] = _table(pmf)
    return out


_BINOM_T = _binom_table(_REFUND_P)
_NORM_CACHE = []


def _norm_table():
    """Standard normal quantiles at (u + 0.5) / 65536, float32 (computed once, on first use)."""
    if not _NORM_CACHE:
        from statistics import NormalDist

        inv = NormalDist().inv_cdf
        _NORM_CACHE.append(np.array([inv((u + 0.5) / _U16) for u in range(_U16)], dtype=np.float32))
    return _NORM_CACHE[0]


_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_LINE_CHUNK = 1 << 20


def _fmix64(z, tmp):
    """murmur3 finaliser, in place (uint64 arithmetic wraps)."""
    np.right_shift(z, _S33, out=tmp)
    z ^= tmp
    z *= _M1
    np.right_shift(z, _S33, out=tmp)
    z ^= tmp
    z *= _M2
    np.right_shift(z, _S33, out=tmp)
    z ^= tmp
    return z


def _rank_in_groups(g):
    """0, 1, 2, ... within runs of equal values of the sorted array g."""
    n = len(g)
    idx = np.arange(n, dtype=np.int64)
    if n == 0:
        return idx
    start = np.empty(n, dtype=bool)
    start[0] = True
    np.not_equal(g[1:], g[:-1], out=start[1:])
    return idx - np.maximum.accumulate(np.where(start, idx, 0))

_FRAMES = ("pandas", "polars", "pyarrow")
_KEYS = ("int", "str")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def _day(x, name):
    try:
        d = np.datetime64(x)
    except Exception as exc:  # pragma: no cover - message only
        raise ValueError(f"{name}={x!r} is not a date") from exc
    if np.isnat(d):
        raise ValueError(f"{name} must not be NaT")
    return d.astype("datetime64[D]")


def _u16(rng, n):
    return rng.integers(0, _U16, n, dtype=np.uint16)


def _time_of_day(rng, n):
    """Seconds after local midnight, following the hourly profile."""
    s = _HOUR_T[_u16(rng, n)]
    s *= 3600
    s += rng.integers(0, 3600, n, dtype=np.int32)
    return s


def _expected_orders(s, lam0, T, p):
    """E[min(Geometric(p), 1 + Poisson(s * lam0 * T))] per customer, in closed form."""
    x = (s * lam0 * T) * p
    return -np.expm1(-x) / p + np.exp(-x)


def _solve_rate_scale(target_orders, lam0, T, p):
    """Scale s for the purchase rates so that the expected number of orders hits the target."""
    n = len(lam0)
    if n == 0:
        return 1.0
    if n > 200_000:  # a fixed, evenly spaced subsample is plenty to solve for one scalar
        sub = np.linspace(0, n - 1, 200_000).astype(np.int64)
        lam0, T, p = lam0[sub], T[sub], p[sub]
    target = target_orders / n * len(lam0)

    def f(s):
        return _expected_orders(s, lam0, T, p).sum()

    lo, hi = 1e-9, 1.0
    if f(lo) >= target:
        return lo
    while f(hi) < target and hi < 1e9:
        lo, hi = hi, hi * 4.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.0 + 1e-6:
            break
    return math.sqrt(lo * hi)


def _tz_offsets(tz, start_s, n_days):
    """UTC offset (seconds) for every 15-minute slot of local wall-clock time.

    Ambiguous wall times (clocks going back) use the earlier instant, and
    non-existent ones (clocks going forward) are moved forward by the gap.
    """
    import pyarrow.compute as pc

    slot = 900
    n_slots = n_days * 86400 // slot + 1
    local = start_s + np.arange(n_slots, dtype=np.int64) * slot
    arr = pa.array(local.view("datetime64[s]"))
    utc = pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="latest")
    utc = utc.cast(pa.int64()).to_numpy()
    return local - utc  # local = utc + offset


def _customer_strings(n):
    """Dictionary of "C0000001" ... strings for ids 1..n, as a pyarrow string array."""
    width = max(7, len(str(n)))
    rec = width + 1
    buf = np.empty((n, rec), dtype=np.uint8)
    buf[:, 0] = ord("C")
    v = np.arange(1, n + 1, dtype=np.int64)
    for k in range(width):
        buf[:, width - k] = 48 + (v % 10)
        v //= 10
    off_type = np.int32 if (n + 1) * rec < 2**31 else np.int64
    offsets = np.arange(0, (n + 1) * rec, rec, dtype=off_type)
    typ = pa.string() if off_type is np.int32 else pa.large_string()
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(buf.ravel())])


def _dict_column(codes, names):
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int8()), pa.array(list(names), pa.string()))


# --------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------

def _generate(n_customers, *, seed, start, end, key, tz, sort, n_rows=None):
    if key not in _KEYS:
        raise ValueError(f"key must be one of {_KEYS}, got {key!r}")
    n = int(n_customers)
    if n < 0:
        raise ValueError("n_customers must be >= 0")
    d0, d1 = _day(start, "start"), _day(end, "end")
    n_days = int((d1 - d0).astype(np.int64)) + 1
    if n_days < 1:
        raise ValueError(f"end ({end}) is before start ({start})")
    start_s = int(d0.astype("datetime64[s]").astype(np.int64))

    ss = np.random.SeedSequence(seed)
    s_cust, s_count, s_ord, s_ref, s_adj, s_line = ss.spawn(6)

    # ---- customers ------------------------------------------------------------------
    rng = np.random.default_rng(s_cust)
    acq = rng.beta(_ACQ_A, _ACQ_B, n) * n_days            # acquisition, days after start
    T = n_days - acq                                       # remaining window, days
    lam0 = rng.standard_gamma(_RATE_SHAPE, n) * (_RATE_MEAN / _RATE_SHAPE)  # per day
    p = rng.beta(_DROP_A, _DROP_B, n)
    np.clip(p, 1e-9, 1.0, out=p)
    level = rng.normal(0.0, _LEVEL_SD, n)
    level[rng.random(n) < _BIG_SPENDER[0]] += _BIG_SPENDER[1]
    level = level.astype(np.float32)
    home = _REGION_T[_u16(rng, n)]
    pref = _CHANNEL_T[_u16(rng, n)]

    # ---- number of orders per customer: min(dropout, arrivals before end) -------------
    if n_rows is None:
        scale = 1.0
        tries = 1
    else:
        # rows ~= orders * mean lines * (1 + refunds)
        rows_per_order = _MEAN_LINES * (1.0 + 0.98 * _REFUND_P)
        target = n_rows / rows_per_order
        scale = _solve_rate_scale(target, lam0, T, p)
        tries = 8
    best = None
    for rng_k in (np.random.default_rng(c) for c in s_count.spawn(tries)):
        M = rng_k.poisson(lam0 * T * scale)                # arrivals after the first purchase
        K = np.minimum(rng_k.geometric(p), M + 1)          # purchases actually made
        if n_rows is None:
            best = (K, M)
            break
        err = abs(K.sum() * rows_per_order / max(n_rows, 1) - 1.0)
        if best is None or err < best[0]:
            best = (err, K, M)
        if err < 0.05:
            break
    K, M = best[-2], best[-1]
    del lam0, p, best
    O = int(K.sum())

    # ---- order times: first purchase at acquisition, then the first K-1 of the M
    # ---- arrival times (order statistics of M uniforms on the remaining window) ---------
    rng = np.random.default_rng(s_ord)
    cust = np.repeat(np.arange(n, dtype=np.int32), K)
    first = np.cumsum(K) - K
    S = rng.standard_exponential(O)
    S[first] = 0.0
    np.cumsum(S, out=S)
    S -= np.repeat(S[first], K)                            # per-customer partial sums
    total = S[first + K - 1] + rng.standard_gamma((M - K + 2).astype(np.float64))
    S *= np.repeat(T / total, K)
    S += np.repeat(acq, K)
    day = S.astype(np.int32)                               # floor (all positive)
    del S, total, first, M, K, T, acq
    np.minimum(day, n_days - 1, out=day)
    t = day.astype(np.int64)
    t *= 86400
    t += _time_of_day(rng, O)                              # local seconds after start
    region = home[cust]
    u = _u16(rng, O)
    away = np.flatnonzero(u < int(_U16 * (1 - _HOME_REGION)))
    region[away] = _REGION_T[_u16(rng, len(away))]
    channel = pref[cust]
    u = _u16(rng, O)
    away = np.flatnonzero(u < int(_U16 * (1 - _PREF_CHANNEL)))
    channel[away] = _CHANNEL_T[_u16(rng, len(away))]
    del u, away, home, pref
    L = _LINES_T[_u16(rng, O)]

    # ---- refunds: a refunded line is line j of its source order (lines are exchangeable)
    rng = np.random.default_rng(s_ref)
    r = _BINOM_T[L, _u16(rng, O)]
    nz = np.flatnonzero(r)
    rn = r[nz].astype(np.int64)
    del r
    src = np.repeat(nz, rn)                                # source order of each refund
    rday = day[src] + rng.integers(1, 31, len(src), dtype=np.int32)
    keep = rday < n_days
    src, rday = src[keep], rday[keep]
    j = _rank_in_groups(src)                               # refunded lines are 0..r-1 of the order
    del nz, rn, keep, day
    R = len(src)
    rt = rday.astype(np.int64)
    rt *= 86400
    rt += _time_of_day(rng, R)
    del rday

    # ---- hit n_rows exactly by adding / removing non-refunded extra lines --------------
    if n_rows is not None:
        rng = np.random.default_rng(s_adj)
        diff = int(n_rows) - (int(L.sum(dtype=np.int64)) + R)
        if diff < 0:
            cap = L.astype(np.int64) - np.maximum(np.bincount(src, minlength=O), 1)
            short = -diff - int(cap.sum())
            if short > 0 and R:
                # n_rows barely above n_customers: drop refunds as well
                keep = np.ones(R, dtype=bool)
                keep[rng.choice(R, min(short, R), replace=False, shuffle=False)] = False
                src, rt = src[keep], rt[keep]
                j = _rank_in_groups(src)
                diff += R - len(src)
                R = len(src)
                del keep
                cap = L.astype(np.int64) - np.maximum(np.bincount(src, minlength=O), 1)
        elif diff > 0:
            cap = 4 - L.astype(np.int64)
        if diff != 0:
            C = int(cap.sum())
            k = min(abs(diff), C)
            if k:
                slots = np.sort(rng.choice(C, k, replace=False, shuffle=False))  # sorted: cache-friendly
                np.cumsum(cap, out=cap)
                chg = np.bincount(np.searchsorted(cap, slots, side="right"), minlength=O)
                L += (np.sign(diff) * chg).astype(np.int8)
                del slots, chg
            del cap

    # ---- all orders (purchases, then refunds), optionally in time order --------------
    NO = O + R
    cust = np.concatenate([cust, cust[src]])
    t = np.concatenate([t, rt])
    region = np.concatenate([region, region[src]])
    channel = np.concatenate([channel, channel[src]])
    L = np.concatenate([L, np.ones(R, dtype=np.int8)])
    del rt
    if tz is not None and NO:
        off = _tz_offsets(tz, start_s, n_days + 31)
        t -= off[t // 900]                                 # local -> UTC, seconds after start
        del off
    if sort and NO:
        # unique keys (time, generation index): deterministic order, lines of an order stay together
        tmin = int(t.min())
        sort_key = t - tmin
        del t
        sort_key <<= 32
        sort_key |= np.arange(NO, dtype=np.int64)
        # keys of the refunds and of their source orders, to find where they land
        q = np.concatenate([sort_key[src], sort_key[O:]])
        qo = np.argsort(q)
        sort_key.sort()
        qpos = np.empty(len(q), dtype=np.int64)
        qpos[qo] = np.searchsorted(sort_key, q[qo])
        src_pos, ref_pos = qpos[:R], qpos[R:]
        del q, qo, qpos
        perm = sort_key & 0xFFFFFFFF
        sort_key >>= 32
        sort_key += tmin
        t = sort_key
        del sort_key
        cust, region, channel, L = cust[perm], region[perm], channel[perm], L[perm]
        gen = perm.view(np.uint64)                         # generation index of each order
        del perm
    else:
        src_pos, ref_pos = src, np.arange(O, NO, dtype=np.int64)
        gen = np.arange(NO, dtype=np.uint64)
    del src

    Li = L.astype(np.intp)
    del L
    line_start = np.cumsum(Li) - Li
    src_line = line_start[src_pos] + j
    ref_line = line_start[ref_pos]
    # Per-line random bits are a hash of (seed, generation index of the order, line number),
    # so the rows do not depend on the layout: sort=False gives the same rows, reordered.
    hbase = gen
    del gen
    hbase <<= np.uint64(2)
    hbase += np.uint64(s_line.generate_state(1, np.uint64)[0])
    hbase -= line_start.view(np.uint64)                    # + line index -> generation index * 4 + j
    del line_start, src_pos, ref_pos, j
    line_order = np.repeat(np.arange(NO, dtype=np.int32 if NO < 2**31 else np.int64), Li)
    del Li
    N = len(line_order)

    # ---- lines: two independent halves, run on two threads (numpy releases the GIL) ----
    cust_line = cust[line_order]
    del cust

    def amounts():
        norm = _norm_table() * np.float32(_LINE_SD)
        product = np.empty(N, dtype=np.int8)
        quantity = np.empty(N, dtype=np.int64)
        amount = np.empty(N, dtype=np.float64)
        tmp = np.empty(min(N, _LINE_CHUNK), dtype=np.uint64)
        for s0 in range(0, N, _LINE_CHUNK):                # cache-sized chunks
            s1 = min(N, s0 + _LINE_CHUNK)
            z = hbase[line_order[s0:s1]]
            z += np.arange(s0, s1, dtype=np.uint64)
            zi = _fmix64(z, tmp[: s1 - s0]).view(np.int64)
            product[s0:s1] = _PRODUCT_T[zi & 0xFFFF]
            _pair_lines(product, line_order, s0, s1, (zi >> 48) & 0xFFFF)
            p = product[s0:s1]
            q = _QTY_T[(zi >> 16) & 0xFFFF]
            f = norm[(zi >> 32) & 0xFFFF]
            f += level[cust_line[s0:s1]]
            np.exp(f, out=f)
            a = _PRICE[p]
            a *= q
            a *= f
            quantity[s0:s1] = q
            amount[s0:s1] = a
        np.round(amount, 2, out=amount)
        product[ref_line] = product[src_line]
        quantity[ref_line] = quantity[src_line]
        amount[ref_line] = -amount[src_line]
        category = _CATEGORY_OF_PRODUCT[product]
        return product, quantity, amount, category

    def keys():
        order_date = t[line_order]
        order_date += start_s
        order_date *= 1_000_000
        region_l = region[line_order]
        channel_l = channel[line_order]
        order_id = line_order.astype(np.int64)
        order_id += 1
        if key == "int":
            cid = cust_line.astype(np.int64)
            cid += 1
            cid = pa.array(cid)
        else:
            strings = _customer_strings(n)
            if N * (len(str(n)) + 8) >= 2**31 and strings.type == pa.string():
                strings = strings.cast(pa.large_string())
            cid = strings.take(pa.array(cust_line))
        return order_date, region_l, channel_l, order_id, cid

    if N >= 1_000_000:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as ex:
            fa, fk = ex.submit(amounts), ex.submit(keys)
            product, quantity, amount, category = fa.result()
            order_date, region_l, channel_l, order_id, cid = fk.result()
    else:
        product, quantity, amount, category = amounts()
        order_date, region_l, channel_l, order_id, cid = keys()
    del cust_line, line_order, t, region, channel, src_line, ref_line, hbase

    ts_type = pa.timestamp("us", tz=tz) if tz is not None else pa.timestamp("us")
    date_arr = pa.Array.from_buffers(ts_type, N, [None, pa.py_buffer(order_date)])
    return pa.table(
        {
            "customer_id": cid,
            "order_id": pa.array(order_id),
            "order_date": date_arr,
            "amount": pa.array(amount),
            "product": _dict_column(product, PRODUCTS),
            "category": _dict_column(category, CATEGORIES),
            "region": _dict_column(region_l, REGIONS),
            "channel": _dict_column(channel_l, CHANNELS),
            "quantity": pa.array(quantity),
        }
    )


def _pair_lines(product, line_order, s0, s1, bits):
    """Make some later lines of an order (lines s0..s1) the partner of the line before.

    Position k in the order is handled after k - 1, so the line before is final; it may lie
    in the previous chunk, whose products are already set."""
    idx = np.arange(max(s0, 1), s1)
    same = line_order[idx] == line_order[idx - 1]      # continues the order of the line before
    position = same.astype(np.int8)
    run = same.copy()
    for k in range(2, _MAX_LINES):
        run &= line_order[np.maximum(idx - k + 1, 0)] == line_order[np.maximum(idx - k, 0)]
        run &= idx >= k
        position += run
    paired = bits[idx - s0] < int(_PAIR_P * 65536)
    for k in range(1, _MAX_LINES):
        lines = idx[paired & (position == k)]
        product[lines] = _PARTNER[product[lines - 1]]


def _to_frame(table, frame):
    if frame == "pyarrow":
        return table
    if frame == "pandas":
        return table.to_pandas(split_blocks=True, self_destruct=True)
    if frame == "polars":
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    raise ValueError(f"frame must be one of {_FRAMES}, got {frame!r}")  # pragma: no cover


def _check_frame(frame):
    if frame not in _FRAMES:
        raise ValueError(f"frame must be one of {_FRAMES}, got {frame!r}")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

def synthetic(
    n_customers: int = 1000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    key: str = "int",
    frame: str = "pandas",
    tz: str | None = None,
    sort: bool = True,
):
    """A synthetic order-line log for ``n_customers`` customers.

    The number of rows is set by the model. With the default two-year window
    there are about 8.3 lines per customer on average, plus or minus a few
    percent from one seed to the next. Shorter windows give fewer lines per
    customer. Every customer has at least one purchase. See the module
    docstring for the model and the columns.

    Parameters
    ----------
    n_customers : number of customers (ids 1..n_customers).
    seed : the output is a deterministic function of all the arguments.
    start, end : first and last calendar day of the log (inclusive). They
        accept ISO date strings, ``datetime.date`` or ``numpy.datetime64``.
        A time of day is ignored.
    key : ``"int"`` gives int64 ids 1..n. ``"str"`` gives strings ``"C0000001"``...
        These are plain (not dictionary-encoded) strings, like real keys.
    frame : ``"pandas"``, ``"polars"`` or ``"pyarrow"`` (a ``pyarrow.Table``).
    tz : ``None`` gives naive timestamps. A time zone name such as
        ``"Asia/Shanghai"`` gives a tz-aware ``order_date``. The wall-clock
        times (and ``start`` / ``end``) are local times in that zone.
        Ambiguous times take the earlier instant. Non-existent times move
        forward by the DST gap.
    sort : ``True`` orders rows by ``order_date`` like an append-only log
        (``order_id`` then increases with time). ``False`` skips the sort,
        which is faster. The rows are exactly the same as with ``True``;
        only their order and the ``order_id`` numbering differ. Purchase
        rows are then grouped by customer (customer 1 first, each customer's
        orders by day), and all refund rows come at the end. Either way,
        the lines of an order are adjacent.

    Returns
    -------
    pandas.DataFrame, polars.DataFrame or pyarrow.Table with the columns
    customer_id, order_id, order_date, amount, product, category, region,
    channel, quantity.

    Example
    -------
    >>> from crm import datasets
    >>> df = datasets.synthetic(500, seed=7)
    >>> df.groupby("customer_id")["order_id"].nunique().describe()   # doctest: +SKIP
    >>> pl_df = datasets.synthetic(500, seed=7, frame="polars", key="str", tz="Asia/Shanghai")
    """
    _check_frame(frame)
    table = _generate(n_customers, seed=seed, start=start, end=end, key=key, tz=tz, sort=sort)
    return _to_frame(table, frame)


def synthetic_rows(
    n_rows: int,
    *,
    n_customers: int | None = None,
    seed: int = 0,
    key: str = "int",
    frame: str = "pyarrow",
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    tz: str | None = None,
    sort: bool = True,
):
    """A synthetic log with ``n_rows`` rows (see :func:`synthetic`).

    ``n_customers`` defaults to ``round(n_rows / 10)``. It can be set freely:
    the customers' purchase rates are scaled by one common factor so that
    the expected number of rows is ``n_rows``. The model is otherwise that
    of :func:`synthetic`. The other arguments mean the same as there.
    Lines are then added to or removed from randomly chosen orders (never
    below one line, never more than four, never a line that was refunded) so
    that the result has exactly ``n_rows`` rows. When ``n_rows`` is barely
    above ``n_customers`` (so every customer buys about once), refunds are
    dropped too, as needed.

    Every customer appears at least once, so ``n_rows`` must be at least
    ``n_customers`` (otherwise ValueError).

    Example
    -------
    >>> from crm import datasets
    >>> t = datasets.synthetic_rows(200_000, n_customers=20_000)   # pyarrow.Table
    >>> t.num_rows
    200000
    """
    _check_frame(frame)
    n_rows = int(n_rows)
    if n_customers is None:
        n_customers = max(1, round(n_rows / 10)) if n_rows > 0 else 0
    n_customers = int(n_customers)
    if n_rows < n_customers:
        raise ValueError(f"n_rows ({n_rows}) must be >= n_customers ({n_customers})")
    table = _generate(n_customers, seed=seed, start=start, end=end, key=key, tz=tz, sort=sort, n_rows=n_rows)
    return _to_frame(table, frame)


# --------------------------------------------------------------------------------------
# Service logs (generated in _service_data)
# --------------------------------------------------------------------------------------

def tickets(
    n_customers: int = 1000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    frame: str = "pandas",
):
    """A synthetic service-ticket log (opinions, complaints, consultations).

    Customers (ids 1..n_customers, the same as :func:`synthetic`'s) open about 0.8 tickets
    a year each, more for the more active ones (a per-customer gamma level shared by the
    service logs of a seed). A ticket's type is ``consultation`` (50 %), ``complaint``
    (30 %) or ``opinion`` (20 %). It is handled in the customer's home region (90 %) by
    one of the region's four representatives (neighbouring regions share one). The time to resolve is lognormal by type
    (median about 3 hours for consultations, 20 for opinions, 60 for complaints, times a
    per-representative speed factor). A ticket is still open (``closed_at`` null) when
    its resolution would fall after ``end`` -- so recent tickets are more often open --
    and 3 % of complaints are never resolved.

    Columns
    -------
    ==============  ===============================  =======================================
    ticket_id       int64                            1, 2, ... in order of opening
    customer_id     int64                            customer key (1..n_customers)
    type            dictionary<int8, string>         "complaint", "consultation", "opinion"
    product         dictionary<int8, string>         one of :data:`PRODUCTS`
    region          dictionary<int8, string>         one of :data:`REGIONS`
    representative  dictionary<int8, string>         "R01" ... "R20"
    opened_at       timestamp[us] (naive)            when the ticket was opened
    closed_at       timestamp[us] (naive), nullable  when it was resolved; null while open
    ==============  ===============================  =======================================

    Rows are in order of ``opened_at``. The output is a deterministic function of the
    arguments; ``start``, ``end`` and ``frame`` mean the same as for :func:`synthetic`.

    Example
    -------
    >>> from crm import datasets
    >>> t = datasets.tickets(1_000, seed=1)
    >>> list(t.columns)
    ['ticket_id', 'customer_id', 'type', 'product', 'region', 'representative', 'opened_at', 'closed_at']
    >>> bool(t["closed_at"].isna().any())
    True
    """
    from . import _service_data

    _check_frame(frame)
    return _to_frame(_service_data._tickets_table(n_customers, seed, start, end), frame)


def contacts(
    n_customers: int = 1000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    frame: str = "pandas",
):
    """A synthetic log of contacts made by the company's departments with its customers.

    Contacts come in occasions (an order, a campaign, a delivery): about 3 a year per
    customer, scaled by the customer's activity level (shared with :func:`tickets`). An
    occasion brings 1-3 contacts (55 / 30 / 15 %) about one product, within the 6 days
    after it, in office hours (08:00-19:00), each from a department drawn independently
    (sales 35 %, service 25 %, marketing 25 %, finance 8 %, logistics 7 %) over a channel
    (email, phone, sms, app). So some customers hear from several departments in a week.

    Columns
    -------
    ============  ========================  ====================================================
    customer_id   int64                     customer key (1..n_customers)
    department    dictionary<int8, string>  "finance", "logistics", "marketing", "sales", "service"
    product       dictionary<int8, string>  one of :data:`PRODUCTS`
    channel       dictionary<int8, string>  "email", "phone", "sms", "app"
    contacted_at  timestamp[us] (naive)     when the contact was made
    ============  ========================  ====================================================

    Rows are in order of ``contacted_at``; deterministic for the arguments.

    Example
    -------
    >>> from crm import datasets
    >>> c = datasets.contacts(1_000, seed=1, frame="polars")
    >>> c.columns
    ['customer_id', 'department', 'product', 'channel', 'contacted_at']
    """
    from . import _service_data

    _check_frame(frame)
    return _to_frame(_service_data._contacts_table(n_customers, seed, start, end), frame)


def surveys(
    n_customers: int = 1000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    frame: str = "pandas",
):
    """A synthetic log of satisfaction survey answers (scores 1-10).

    Customers answer about 0.6 surveys a year each (Poisson), about a product, in their
    home region (90 %). The score is a rounded latent value, clipped to 1..10: 7.3, plus a
    product effect (sd 0.6) and a region effect (sd 0.3) fixed per seed, plus a customer
    effect (sd 1), minus 0.8 per complaint the customer made in :func:`tickets` of the
    same seed (up to 3), minus 1.2 when one of their tickets is still open, plus noise
    (sd 1). So complainers and customers left waiting are the dissatisfied ones.

    Columns
    -------
    ===========  ========================  ===================================
    customer_id  int64                     customer key (1..n_customers)
    product      dictionary<int8, string>  one of :data:`PRODUCTS`
    region       dictionary<int8, string>  one of :data:`REGIONS`
    score        int64                     1 (very unhappy) ... 10 (delighted)
    surveyed_at  timestamp[us] (naive)     when the answer was given
    ===========  ========================  ===================================

    Rows are in order of ``surveyed_at``; deterministic for the arguments.

    Example
    -------
    >>> from crm import datasets
    >>> s = datasets.surveys(1_000, seed=1, frame="pyarrow")
    >>> s.column_names
    ['customer_id', 'product', 'region', 'score', 'surveyed_at']
    >>> 1 <= min(s["score"].to_pylist()) and max(s["score"].to_pylist()) <= 10
    True
    """
    from . import _service_data

    _check_frame(frame)
    return _to_frame(_service_data._surveys_table(n_customers, seed, start, end), frame)
