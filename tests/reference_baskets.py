"""Plain-Python references for the basket functions: brute-force counting of every itemset,
every rule written out from the definitions, and cross-sell in pandas. Slow and obvious on
purpose; they share nothing with crm."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pandas as pd


def baskets(lines: pd.DataFrame, key: str, item: str) -> dict:
    """key -> frozenset of its items."""
    out: dict = {}
    for k, i in zip(lines[key].tolist(), lines[item].tolist()):
        out.setdefault(k, set()).add(i)
    return {k: frozenset(v) for k, v in out.items()}


def itemset_counts(sets: dict, max_len: int | None = None) -> Counter:
    """Every itemset (sorted tuple) of up to max_len items held by some basket -> baskets
    holding it."""
    counts: Counter = Counter()
    for items in sets.values():
        items = sorted(items)
        for k in range(1, (max_len or len(items)) + 1):
            counts.update(combinations(items, k))
    return counts


def frequent(lines: pd.DataFrame, min_support: float, max_len: int | None = None,
             order: str = "order_id", item: str = "product") -> dict:
    """itemset tuple -> (count, support) of the itemsets with support >= min_support."""
    sets = baskets(lines, order, item)
    n = len(sets)
    return {s: (c, c / n) for s, c in itemset_counts(sets, max_len).items() if c / n >= min_support}


def rules(lines: pd.DataFrame, min_support: float, min_confidence: float, min_lift: float | None = None,
          max_len: int | None = None, order: str = "order_id", item: str = "product") -> dict:
    """(antecedent tuple, consequent tuple) -> dict of the rule's measures."""
    sets = baskets(lines, order, item)
    n = len(sets)
    found = frequent(lines, min_support, max_len, order, item)
    out = {}
    for itemset, (count, support) in found.items():
        for k in range(1, len(itemset)):
            for antecedent in combinations(itemset, k):
                consequent = tuple(i for i in itemset if i not in antecedent)
                a, c = found[antecedent][0], found[consequent][0]
                confidence = count / a
                lift = confidence / (c / n)
                if confidence >= min_confidence and (min_lift is None or lift >= min_lift):
                    out[(antecedent, consequent)] = {
                        "antecedent_support": a / n,
                        "consequent_support": c / n,
                        "support": support,
                        "confidence": confidence,
                        "lift": lift,
                        "count": count,
                    }
    return out


def cross_sell(lines: pd.DataFrame, rules_frame: pd.DataFrame, top_n: int, metric: str,
               customer: str = "customer_id", item: str = "product") -> pd.DataFrame:
    """The documented recommendation, one customer at a time, in pandas."""
    other = "lift" if metric == "confidence" else "confidence"
    single = rules_frame[rules_frame["consequent"].map(len) == 1]
    rows = []
    for cust, bought in sorted(baskets(lines, customer, item).items()):
        fired = single[single["antecedent"].map(lambda a: set(a) <= bought)
                       & single["consequent"].map(lambda c: c[0] not in bought)].copy()
        if fired.empty:
            continue
        fired["candidate"] = fired["consequent"].map(lambda c: c[0])
        fired["antecedent_key"] = fired["antecedent"].map(lambda a: tuple(sorted(a)))
        best = (fired.sort_values([metric, other, "antecedent_key"], ascending=[False, False, True], kind="stable")
                .drop_duplicates("candidate"))
        best = best.sort_values([metric, other, "candidate"], ascending=[False, False, True], kind="stable")
        for rank, row in enumerate(best.head(top_n).itertuples(), start=1):
            rows.append({customer: cust, "rank": rank, item: row.candidate, "score": getattr(row, metric),
                         "confidence": row.confidence, "lift": row.lift, "antecedent": list(row.antecedent_key)})
    return pd.DataFrame(rows, columns=[customer, "rank", item, "score", "confidence", "lift", "antecedent"])
