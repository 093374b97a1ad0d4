"""crm.frequent_itemsets, crm.basket_rules and crm.cross_sell against brute force
(tests/reference_baskets.py), mlxtend, and on bad input."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm
import reference_baskets as ref

ITEMSET_COLUMNS = ["itemset", "length", "count", "support"]
RULE_COLUMNS = ["antecedent", "consequent", "antecedent_support", "consequent_support", "support",
                "confidence", "lift", "count"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["apple", "bread", "cheese", "dates", "eggs", "figs", "grapes"]


# ---------------------------------------------------------------- helpers


@st.composite
def order_lines(draw, max_orders=14):
    """A small order log: single-item baskets, duplicate lines and shuffled rows included."""
    n_orders = draw(st.integers(1, max_orders))
    n_items = draw(st.integers(1, len(NAMES)))
    rows = []
    for o in range(n_orders):
        items = draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=5))
        rows += [(o * 7 - 20, NAMES[i]) for i in items]
    order = draw(st.permutations(range(len(rows))))
    return pd.DataFrame([rows[i] for i in order], columns=["order_id", "product"])


def as_kind(lines: pd.DataFrame, item_type: str, kind: str):
    """The log with its product column as strings, ints or a categorical, as pandas,
    polars or pyarrow."""
    table = pa.Table.from_pandas(lines, preserve_index=False).replace_schema_metadata(None)
    product = table.column("product")
    if item_type == "int":
        product = pa.chunked_array([pa.array([NAMES.index(p) + 100 for p in product.to_pylist()], pa.int32())])
    elif item_type == "categorical":
        product = product.dictionary_encode()
    elif item_type == "large_string":
        product = product.cast(pa.large_string())
    elif item_type == "string_view":
        product = product.cast(pa.string_view())
    table = table.set_column(1, "product", product)
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        return pl.from_arrow(table)
    return table


def items_of(item_type: str, items):
    return tuple(sorted(NAMES.index(i) + 100 for i in items)) if item_type == "int" else tuple(sorted(items))


def to_pandas(frame) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.to_pandas()
    return frame.to_pandas()


def listed(value) -> tuple:
    return tuple(value.tolist() if hasattr(value, "tolist") else value)


def itemset_table(out) -> dict:
    df = to_pandas(out)
    assert list(df.columns) == ITEMSET_COLUMNS
    return {listed(s): (c, sup) for s, c, sup in zip(df["itemset"], df["count"], df["support"])}


def rule_table(out) -> dict:
    df = to_pandas(out)
    assert list(df.columns) == RULE_COLUMNS
    return {(listed(a), listed(c)): row for a, c, row in zip(df["antecedent"], df["consequent"],
                                                            df[RULE_COLUMNS[2:]].to_dict("records"))}


def assert_rules_equal(got: dict, expected: dict):
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert got[key]["count"] == row["count"], key
        for name in ["antecedent_support", "consequent_support", "support", "confidence", "lift"]:
            assert math.isclose(got[key][name], row[name], rel_tol=1e-12), (key, name)


# ---------------------------------------------------------------- against brute force


@SETTINGS
@given(lines=order_lines(), min_support=st.sampled_from([0.05, 0.1, 0.2, 1 / 3, 0.5, 0.75, 1.0]),
       max_len=st.sampled_from([None, 1, 2, 3]), item_type=st.sampled_from(["string", "int", "categorical"]),
       kind=st.sampled_from(["pandas", "polars", "pyarrow"]))
def test_frequent_itemsets_match_brute_force(lines, min_support, max_len, item_type, kind):
    out = crm.frequent_itemsets(as_kind(lines, item_type, kind), min_support=min_support, max_len=max_len)
    assert crm._frames.kind_of(out) == kind
    expected = {items_of(item_type, s): v for s, v in ref.frequent(lines, min_support, max_len).items()}
    got = itemset_table(out)
    assert got == expected
    df = to_pandas(out)
    assert (df["length"] == df["itemset"].map(len)).all()
    keys = list(zip(df["length"], -df["count"], df["itemset"].map(listed)))
    assert keys == sorted(keys)


@SETTINGS
@given(lines=order_lines(), min_support=st.sampled_from([0.05, 0.15, 0.3, 0.5]),
       min_confidence=st.sampled_from([0.0, 0.3, 0.6, 1.0]), min_lift=st.sampled_from([None, 0.5, 1.0, 1.5]),
       max_len=st.sampled_from([None, 2, 3]), item_type=st.sampled_from(["string", "int", "categorical"]),
       kind=st.sampled_from(["pandas", "polars", "pyarrow"]))
def test_rules_match_brute_force(lines, min_support, min_confidence, min_lift, max_len, item_type, kind):
    out = crm.basket_rules(as_kind(lines, item_type, kind), min_support=min_support,
                           min_confidence=min_confidence, min_lift=min_lift, max_len=max_len)
    assert crm._frames.kind_of(out) == kind
    expected = {(items_of(item_type, a), items_of(item_type, c)): row
                for (a, c), row in ref.rules(lines, min_support, min_confidence, min_lift, max_len).items()}
    assert_rules_equal(rule_table(out), expected)
    df = to_pandas(out)
    keys = list(zip(-df["lift"], -df["confidence"], df["antecedent"].map(listed), df["consequent"].map(listed)))
    assert keys == sorted(keys)


@SETTINGS
@given(lines=order_lines(), seed=st.integers(0, 2**32 - 1), cut=st.integers(1, 20))
def test_row_order_and_chunks_do_not_matter(lines, seed, cut):
    shuffled = lines.sample(frac=1, random_state=seed)
    table = pa.Table.from_pandas(shuffled, preserve_index=False)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=cut))
    for f in (crm.frequent_itemsets, lambda t, **k: crm.basket_rules(t, min_confidence=0.0, **k)):
        first = f(pa.Table.from_pandas(lines, preserve_index=False), min_support=0.1)
        assert f(chunked, min_support=0.1).equals(first)


def test_item_values_come_back_in_their_type():
    lines = pd.DataFrame({"order_id": ["a", "a", "b", "b", "c"], "product": ["x", "y", "x", "y", "x"]})
    base = pa.Table.from_pandas(lines, preserve_index=False)
    for dtype in [pa.string(), pa.large_string(), pa.string_view(), pa.dictionary(pa.int8(), pa.string())]:
        table = base.set_column(1, "product", base.column("product").cast(dtype))
        sets = crm.frequent_itemsets(table, min_support=0.5)
        assert sets.schema.field("itemset").type.value_type == (
            pa.dictionary(pa.int32(), pa.string()) if pa.types.is_dictionary(dtype) else dtype)
        assert [[str(v) for v in s] for s in sets.column("itemset").to_pylist()] == [["x"], ["y"], ["x", "y"]]
    ints = base.set_column(1, "product", pa.array([7, 9, 7, 9, 7], pa.int16()))
    assert crm.basket_rules(ints, min_support=0.5).schema.field("antecedent").type.value_type == pa.int16()


def test_order_keys_of_any_kind_give_the_same_baskets():
    products = ["a", "b", "a", "c", "b", "a"]
    orders = [[0, 0, 1, 1, 2, 2], [-(2**62), -(2**62), 0, 0, 2**62, 2**62], ["x", "x", "y", "y", "z", "z"]]
    outs = [crm.basket_rules(pd.DataFrame({"order_id": o, "product": products}), min_support=0.3, min_confidence=0.0)
            for o in orders]
    assert len(outs[0]) == 4
    for out in outs[1:]:
        pd.testing.assert_frame_equal(out, outs[0])


def test_pandas_gets_python_lists_and_polars_lists():
    lines = pd.DataFrame({"order_id": [1, 1, 2], "product": ["tea", "milk", "tea"]})
    out = crm.basket_rules(lines, min_support=0.5, min_confidence=0.5)
    assert out["antecedent"].tolist() == [["milk"], ["tea"]]
    assert out["consequent"].tolist() == [["tea"], ["milk"]]
    polars_out = crm.frequent_itemsets(pl.from_pandas(lines), min_support=0.5)
    assert polars_out["itemset"].to_list() == [["tea"], ["milk"], ["milk", "tea"]]


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_nothing_frequent_gives_empty_frames_with_the_columns(kind):
    lines = as_kind(pd.DataFrame({"order_id": [1, 2, 3], "product": ["apple", "bread", "cheese"]}), "string", kind)
    sets = crm.frequent_itemsets(lines, min_support=1.0)
    rules = crm.basket_rules(lines, min_support=0.3)
    assert crm._frames.kind_of(sets) == kind and crm._frames.kind_of(rules) == kind
    assert list(to_pandas(sets).columns) == ITEMSET_COLUMNS and len(sets) == 0
    assert list(to_pandas(rules).columns) == RULE_COLUMNS and len(rules) == 0
    assert len(crm.frequent_itemsets(lines, min_support=0.3)) == 3
    empty = crm.cross_sell(as_kind(pd.DataFrame({"customer_id": [1], "product": ["apple"]}), "string", kind), rules)
    assert len(empty) == 0
    assert list(to_pandas(empty).columns) == ["customer_id", "rank", "product", "score", "confidence", "lift",
                                               "antecedent"]


def test_dict_of_numpy_arrays_is_accepted():
    lines = {"order_id": np.array([1, 1, 2, 2]), "product": np.array(["a", "b", "a", "b"])}
    out = crm.frequent_itemsets(lines, min_support=1.0)
    assert [list(s) for s in out["itemset"]] == [["a"], ["b"], ["a", "b"]]


# ---------------------------------------------------------------- against mlxtend


def test_same_itemsets_and_rules_as_mlxtend():
    mlxtend = pytest.importorskip("mlxtend.frequent_patterns")
    log = crm.datasets.synthetic_rows(20_000, seed=3).select(["order_id", "product"])
    lines = log.to_pandas()
    lines["product"] = lines["product"].astype(str)
    onehot = pd.crosstab(lines["order_id"], lines["product"]).gt(0)
    theirs = mlxtend.fpgrowth(onehot, min_support=0.002, use_colnames=True)
    ours = crm.frequent_itemsets(log, min_support=0.002)
    assert len(ours) == len(theirs) > 100
    expected = {tuple(sorted(s)): sup for s, sup in zip(theirs["itemsets"], theirs["support"])}
    got = {tuple(s): sup for s, sup in zip(ours.column("itemset").to_pylist(), ours.column("support").to_pylist())}
    assert got.keys() == expected.keys()
    assert all(math.isclose(got[k], expected[k], rel_tol=1e-12) for k in got)

    their_rules = mlxtend.association_rules(theirs, num_itemsets=len(onehot), metric="confidence",
                                            min_threshold=0.05)
    our_rules = rule_table(crm.basket_rules(log, min_support=0.002, min_confidence=0.05))
    assert len(our_rules) == len(their_rules) > 10
    for row in their_rules.itertuples():
        mine = our_rules[(tuple(sorted(row.antecedents)), tuple(sorted(row.consequents)))]
        for ours_name, theirs_name in [("antecedent_support", "_3"), ("consequent_support", "_4"),
                                       ("support", "support"), ("confidence", "confidence"), ("lift", "lift")]:
            assert math.isclose(mine[ours_name], getattr(row, theirs_name), rel_tol=1e-9), ours_name


# ---------------------------------------------------------------- cross-sell


@st.composite
def customer_lines(draw):
    rows = []
    for c in range(draw(st.integers(1, 10))):
        items = draw(st.lists(st.sampled_from(NAMES[:6]), min_size=1, max_size=5))
        rows += [(c * 3, c * 10 + k % 2, i) for k, i in enumerate(items)]
    order = draw(st.permutations(range(len(rows))))
    return pd.DataFrame([rows[i] for i in order], columns=["customer_id", "order_id", "product"])


@SETTINGS
@given(lines=customer_lines(), top_n=st.integers(1, 4), metric=st.sampled_from(["confidence", "lift"]),
       kind=st.sampled_from(["pandas", "polars", "pyarrow"]))
def test_cross_sell_matches_the_pandas_reference(lines, top_n, metric, kind):
    rules = crm.basket_rules(lines, min_support=0.1, min_confidence=0.0)
    frame = {"pandas": lambda d: d, "polars": pl.from_pandas,
             "pyarrow": lambda d: pa.Table.from_pandas(d, preserve_index=False)}[kind]
    out = crm.cross_sell(frame(lines), frame(rules) if kind != "pyarrow" else pa.Table.from_pandas(rules),
                         top_n=top_n, metric=metric)
    assert crm._frames.kind_of(out) == kind
    got = to_pandas(out)
    got["antecedent"] = got["antecedent"].map(lambda a: list(listed(a)))
    expected = ref.cross_sell(lines, rules, top_n, metric)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_cross_sell_uses_single_item_consequents_and_items_absent_from_the_data():
    lines = pd.DataFrame({"customer_id": ["u1", "u1", "u2"], "product": ["tea", "milk", "cake"]})
    rules = pd.DataFrame({
        "antecedent": [["tea"], ["tea"], ["milk", "tea"], ["cake"], ["scones"]],
        "consequent": [["jam"], ["jam", "cake"], ["cake"], ["tea"], ["cake"]],
        "confidence": [0.5, 0.99, 0.6, 0.2, 0.9],
        "lift": [1.5, 9.0, 1.1, 0.8, 3.0],
    })
    out = crm.cross_sell(lines, rules, metric="lift")
    assert out["customer_id"].tolist() == ["u1", "u1", "u2"]
    assert out["product"].tolist() == ["jam", "cake", "tea"]
    assert out["rank"].tolist() == [1, 2, 1]
    assert out["score"].tolist() == [1.5, 1.1, 0.8]
    assert out["antecedent"].tolist() == [["tea"], ["milk", "tea"], ["cake"]]


def test_cross_sell_keeps_key_and_item_types():
    lines = pa.table({"customer_id": pa.array([5, 5, 9], pa.int32()),
                      "product": pa.array(["a", "b", "a"]).dictionary_encode()})
    rules = crm.basket_rules(lines.rename_columns(["order_id", "product"]), min_support=0.5, min_confidence=0.0)
    out = crm.cross_sell(lines, rules, top_n=1)
    assert out.schema.field("customer_id").type == pa.int32()
    assert pa.types.is_dictionary(out.schema.field("product").type)
    assert out.column("customer_id").to_pylist() == [9]
    assert [str(v) for v in out.column("product").to_pylist()] == ["b"]


def test_cross_sell_refuses_rules_of_another_item_type():
    lines = pd.DataFrame({"customer_id": [1], "product": ["a"]})
    rules = pd.DataFrame({"antecedent": [[1]], "consequent": [[2]], "confidence": [0.5], "lift": [1.0]})
    with pytest.raises(crm.ColumnTypeError, match="antecedent"):
        crm.cross_sell(lines, rules)
    with pytest.raises(crm.ColumnNotFoundError, match="lift"):
        crm.cross_sell(lines, rules.drop(columns="lift"))
    with pytest.raises(crm.InvalidDataError, match="confidence"):
        crm.cross_sell(lines, rules.assign(antecedent=[["a"]], consequent=[["b"]], confidence=[float("nan")]))


# ---------------------------------------------------------------- bad input


def test_bad_input_names_the_column():
    lines = pd.DataFrame({"order_id": [1, 1, 2], "product": ["a", "b", "a"], "price": [1.0, 2.0, 3.0]})
    with pytest.raises(crm.ColumnNotFoundError, match="'sku'.*'order_id', 'product'"):
        crm.frequent_itemsets(lines, item="sku")
    with pytest.raises(crm.ColumnTypeError, match="'price' has type double"):
        crm.basket_rules(lines, item="price")
    with pytest.raises(crm.ColumnTypeError, match="'price'"):
        crm.frequent_itemsets(lines, order="price")
    with pytest.raises(crm.ColumnTypeError, match="'price'"):
        crm.cross_sell(lines.rename(columns={"order_id": "customer_id"}), crm.basket_rules(lines), item="price")


@pytest.mark.parametrize("function", ["frequent_itemsets", "basket_rules"])
def test_nulls_raise_or_are_dropped(function):
    lines = pd.DataFrame({"order_id": pd.array([1, 1, 2, None, 3], dtype="Int64"),
                          "product": ["a", "b", None, "a", None]})
    with pytest.raises(crm.InvalidDataError, match=r"'order_id' has 1 null value\(s\) \(first at row 3\)"):
        getattr(crm, function)(lines)
    with pytest.raises(crm.InvalidDataError, match=r"'product' has 2 null value\(s\) \(first at row 2\)"):
        getattr(crm, function)(lines)
    with pytest.warns(UserWarning, match="dropped 3 row"):
        out = getattr(crm, function)(lines, min_support=0.5, on_invalid="drop")
    assert len(out) == (3 if function == "frequent_itemsets" else 2)  # only order 1 = {a, b} is left


def test_cross_sell_nulls():
    lines = pd.DataFrame({"customer_id": pd.array([1, None], dtype="Int64"), "product": ["a", "b"]})
    rules = pd.DataFrame({"antecedent": [["a"]], "consequent": [["b"]], "confidence": [0.5], "lift": [1.0]})
    with pytest.raises(crm.InvalidDataError, match="'customer_id' has 1 null"):
        crm.cross_sell(lines, rules)
    with pytest.warns(UserWarning, match="dropped 1 row"):
        assert crm.cross_sell(lines, rules, on_invalid="drop")["product"].tolist() == ["b"]


@pytest.mark.parametrize("call, message", [
    (lambda d: crm.frequent_itemsets(d, min_support=0), "min_support must be in"),
    (lambda d: crm.frequent_itemsets(d, min_support=1.5), "min_support must be in"),
    (lambda d: crm.basket_rules(d, min_support=-0.1), "min_support must be in"),
    (lambda d: crm.basket_rules(d, min_confidence=1.2), "min_confidence must be in"),
    (lambda d: crm.basket_rules(d, min_lift=-1), "min_lift must be"),
    (lambda d: crm.frequent_itemsets(d, max_len=0), "max_len must be at least 1"),
    (lambda d: crm.frequent_itemsets(d, on_invalid="skip"), "on_invalid must be one of"),
    (lambda d: crm.cross_sell(d, crm.basket_rules(d), top_n=0), "top_n must be at least 1"),
    (lambda d: crm.cross_sell(d, crm.basket_rules(d), metric="support"), "metric must be one of"),
])
def test_bad_parameters(call, message):
    lines = pd.DataFrame({"order_id": [1, 1], "customer_id": [1, 1], "product": ["a", "b"]})
    with pytest.raises(crm.InvalidArgumentError, match=message):
        call(lines)


# ---------------------------------------------------------------- threads

THREADS_SCRIPT = """
import sys, crm, pyarrow.parquet as pq
out_dir, threads = sys.argv[1], int(sys.argv[2])
log = crm.datasets.synthetic_rows(200_000, seed=5, key="str")
rules = crm.basket_rules(log, min_support=0.001, min_confidence=0.01)
results = {
    "itemsets": crm.frequent_itemsets(log, min_support=0.0005),
    "itemsets_str_orders": crm.frequent_itemsets(log, order="customer_id", min_support=0.01, max_len=3),
    "rules": rules,
    "cross_sell": crm.cross_sell(log, rules, metric="lift", top_n=5),
}
assert crm.num_threads() == threads, crm.num_threads()
assert results["rules"].num_rows > 100 and results["cross_sell"].num_rows > 1000
for name, table in results.items():
    pq.write_table(table, f"{out_dir}/{name}.parquet")
"""


def test_result_does_not_depend_on_thread_count(tmp_path):
    results = {}
    for threads in (1, 2):
        out_dir = tmp_path / f"threads{threads}"
        out_dir.mkdir()
        env = dict(os.environ, CRM_NUM_THREADS=str(threads))
        done = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(out_dir), str(threads)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results[threads] = {path.stem: pq.read_table(path) for path in sorted(out_dir.glob("*.parquet"))}
    assert len(results[1]) == 4
    for name in results[1]:
        assert results[1][name].equals(results[2][name]), name
