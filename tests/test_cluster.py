"""crm.kmeans and crm.choose_k against plain numpy references (Lloyd from the same starting
centres, brute-force silhouette) and scikit-learn; invariances; frames in and out; bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crm

FEATURES = ["recency", "frequency", "monetary"]


def blobs(n: int, k: int, d: int, seed: int, spread: float = 1.0, separation: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, separation, (k, d))
    return centres[np.arange(n) % k] + rng.normal(0.0, spread, (n, d))


def separated(n: int, k: int, d: int, seed: int) -> np.ndarray:
    """k unit-spread blobs on corners of a hypercube of side 20: one clear best clustering."""
    corners = np.array([[(j >> t) & 1 for t in range(d)] for j in range(k)], dtype=float) * 20.0
    return corners[np.arange(n) % k] + np.random.default_rng(seed).normal(0.0, 1.0, (n, d))


def standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, sd = x.mean(0), x.std(0)
    return (x - mean) / sd, mean, sd


def lloyd_reference(x: np.ndarray, centres: np.ndarray, max_iter: int = 300):
    """Plain Lloyd: assign to the nearest centre, move centres to the means, stop when no
    label changes (or the centres stop moving); then labels of the final centres."""
    centres = centres.copy()
    previous = None
    for iteration in range(1, max_iter + 1):
        labels = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[labels == j].mean(0) for j in range(len(centres))])
        shift = ((new - centres) ** 2).sum()
        centres = new
        if (previous is not None and (labels == previous).all()) or shift == 0:
            break
        previous = labels
    squared = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return squared.argmin(1), centres, squared.min(1).sum(), iteration


def silhouette_reference(x: np.ndarray, labels: np.ndarray) -> float:
    distance = np.sqrt(((x[:, None, :] - x[None]) ** 2).sum(-1))
    widths = []
    for i in range(len(x)):
        own = labels == labels[i]
        if own.sum() == 1:
            widths.append(0.0)
            continue
        a = distance[i, own].sum() / (own.sum() - 1)
        b = min(distance[i, labels == c].mean() for c in np.unique(labels) if c != labels[i])
        widths.append((b - a) / max(a, b))
    return float(np.mean(widths))


def rfm_like(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "recency": rng.integers(0, 365, n).astype(np.int32),
            "frequency": rng.geometric(0.3, n).astype(np.int32),
            "monetary": rng.lognormal(4.0, 1.0, n),
        }
    )


# --- against the numpy reference -------------------------------------------------------


@pytest.mark.parametrize("k", [2, 4, 7])
def test_matches_plain_lloyd_from_the_same_centres(k):
    x = blobs(3000, 5, 3, seed=k, separation=3.0)
    init = x[np.random.default_rng(k).choice(len(x), k, replace=False)]
    result = crm.kmeans(x, k=k, init=init, scale=None, tol=0.0)
    labels, centres, inertia, n_iter = lloyd_reference(x, init)
    np.testing.assert_array_equal(result.labels, labels)
    np.testing.assert_allclose(result.centers, centres, rtol=1e-12, atol=1e-12)
    assert result.inertia == pytest.approx(inertia, rel=1e-9)
    assert (result.n_iter, result.converged) == (n_iter, True)


def test_standardised_and_logged_features_match_the_reference():
    table = rfm_like()
    raw = table[FEATURES].to_numpy(dtype=float)
    logged = raw.copy()
    logged[:, 1:] = np.log1p(logged[:, 1:])
    z, mean, sd = standardize(logged)
    init = z[[0, 10, 20, 30]]
    result = crm.kmeans(table, k=4, init=init, log=["frequency", "monetary"], tol=0.0)
    labels, centres, inertia, _ = lloyd_reference(z, init)
    np.testing.assert_array_equal(result.labels["cluster"], labels)
    back = centres * sd + mean
    back[:, 1:] = np.expm1(back[:, 1:])
    np.testing.assert_allclose(result.centers[FEATURES].to_numpy(), back, rtol=1e-9)
    assert result.inertia == pytest.approx(inertia, rel=1e-9)
    # profiles: plain pandas means and medians of the original values
    grouped = table.assign(cluster=labels).groupby("cluster")
    profiles = result.profiles.set_index("cluster")
    np.testing.assert_array_equal(profiles["size"], grouped.size())
    np.testing.assert_allclose(profiles["share"], grouped.size() / len(table), rtol=1e-15)
    for f in FEATURES:
        np.testing.assert_allclose(profiles[f"{f}_mean"], grouped[f].mean(), rtol=1e-12)
        np.testing.assert_allclose(profiles[f"{f}_median"], grouped[f].median(), rtol=1e-15)


def test_tolerance_is_relative_to_the_mean_variance():
    x = blobs(4000, 6, 2, seed=3, separation=2.0) * 100.0
    init = x[:6]
    loose = crm.kmeans(x, k=6, init=init, scale=None, tol=1e-2)
    exact = crm.kmeans(x, k=6, init=init, scale=None, tol=0.0)
    assert loose.converged and loose.n_iter < exact.n_iter
    capped = crm.kmeans(x, k=6, init=init, scale=None, tol=0.0, max_iter=2)
    assert (capped.n_iter, capped.converged) == (2, False)


# --- seeds, threads, row order ---------------------------------------------------------


def test_kmeans_plus_plus_is_deterministic_per_seed():
    x = np.random.default_rng(0).random((5000, 3))
    a, b = crm.kmeans(x, k=8, seed=5), crm.kmeans(x, k=8, seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia and a.seed == 5
    others = [crm.kmeans(x, k=8, seed=s) for s in (6, 7)]
    assert any(o.inertia != a.inertia or (o.labels != a.labels).any() for o in others)


def test_more_initialisations_never_do_worse():
    x = blobs(3000, 10, 2, seed=1, separation=4.0)
    one = crm.kmeans(x, k=10, seed=2, n_init=1)
    five = crm.kmeans(x, k=10, seed=2, n_init=5)
    assert five.inertia <= one.inertia


def test_thread_count_and_row_order_do_not_change_the_result():
    script = textwrap.dedent(
        """
        import hashlib, numpy as np, crm
        x = np.random.default_rng(1).lognormal(size=(50_000, 4))
        r = crm.kmeans(x, k=6, seed=3, log=["x1", "x2"])
        order = np.random.default_rng(2).permutation(len(x))
        p = crm.kmeans(x[order], k=6, seed=3, log=["x1", "x2"])
        assert p.inertia == r.inertia and (p.labels == r.labels[order]).all() and (p.centers == r.centers).all()
        s = crm.choose_k(x[:3000], ks=[2, 3], sample=1000)
        print(crm.num_threads(), r.inertia.hex(), r.n_iter, hashlib.sha256(r.labels.tobytes()).hexdigest(),
              [v.hex() for v in s["inertia"]], [v.hex() for v in s["silhouette"]], r.centers.tobytes().hex())
        """
    )
    outputs = []
    for threads in ("1", "2"):
        env = dict(os.environ, CRM_NUM_THREADS=threads)
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.append(run.stdout.split(" ", 1))
    assert [o[0] for o in outputs] == ["1", "2"]
    assert outputs[0][1] == outputs[1][1]


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(120)), st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_a_seeded_fit(order, seed):
    x = blobs(120, 4, 3, seed=5, separation=1.5)
    x[:10] = x[10:20]  # duplicate rows: interchangeable, whatever their positions
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(id=np.arange(120))[["id", "a", "b", "c"]]
    base = crm.kmeans(table, columns=["a", "b", "c"], k=4, seed=seed)
    shuffled = crm.kmeans(table.iloc[list(order)], columns=["a", "b", "c"], k=4, seed=seed)
    merged = shuffled.labels.merge(base.labels, on="id", suffixes=("", "_base"))
    assert (merged["cluster"] == merged["cluster_base"]).all()
    assert shuffled.centers.equals(base.centers) and shuffled.profiles.equals(base.profiles)
    assert (shuffled.inertia, shuffled.n_iter) == (base.inertia, base.n_iter)
    assert crm.choose_k(table.iloc[list(order)], columns=["a", "b", "c"], ks=[2, 3], sample=50, seed=seed).equals(
        crm.choose_k(table, columns=["a", "b", "c"], ks=[2, 3], sample=50, seed=seed))


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(90)))
def test_row_order_only_permutes_labels(order):
    x = blobs(90, 3, 3, seed=11, separation=5.0)
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(id=np.arange(90))[["id", "a", "b", "c"]]
    init = standardize(x)[0][[0, 1, 2]]
    base = crm.kmeans(table, columns=["a", "b", "c"], k=3, init=init)
    shuffled = crm.kmeans(table.iloc[list(order)], columns=["a", "b", "c"], k=3, init=init)
    merged = shuffled.labels.merge(base.labels, on="id", suffixes=("", "_base"))
    assert (merged["cluster"] == merged["cluster_base"]).all()
    np.testing.assert_allclose(shuffled.centers, base.centers, rtol=1e-12)
    pd.testing.assert_frame_equal(shuffled.profiles, base.profiles, rtol=1e-12)
    assert shuffled.inertia == pytest.approx(base.inertia, rel=1e-12)


# --- scikit-learn ----------------------------------------------------------------------


def test_inertia_within_one_percent_of_scikit_learn():
    cluster = pytest.importorskip("sklearn.cluster")
    x = separated(20_000, 8, 4, seed=2)
    z = standardize(x)[0]
    # one k-means++ start can end in a local optimum in either library: best of 4 in both
    ours = crm.kmeans(x, k=8, seed=0, n_init=4)
    theirs = cluster.KMeans(n_clusters=8, init="k-means++", n_init=4, random_state=0, algorithm="lloyd").fit(z)
    assert abs(ours.inertia - theirs.inertia_) / theirs.inertia_ < 0.01
    # from the same starting centres: the same answer
    init = z[:8]
    ours = crm.kmeans(x, k=8, init=init, tol=0.0)
    theirs = cluster.KMeans(n_clusters=8, init=init, n_init=1, tol=0.0, algorithm="lloyd").fit(z)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-9)
    assert ours.n_iter == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels, theirs.labels_)


# --- choose_k --------------------------------------------------------------------------


def test_choose_k_silhouette_matches_brute_force():
    table = rfm_like(300, seed=4)
    scores = crm.choose_k(table, ks=[1, 2, 3, 5], log="monetary", sample=1000)
    assert list(scores.columns) == ["k", "inertia", "silhouette"]
    assert scores["k"].tolist() == [1, 2, 3, 5]
    assert np.isnan(scores["silhouette"].iloc[0])
    raw = table[FEATURES].to_numpy(dtype=float)
    raw[:, 2] = np.log1p(raw[:, 2])
    z = standardize(raw)[0]
    for k, inertia, silhouette in scores.iloc[1:].itertuples(index=False):
        fit = crm.kmeans(table, k=k, log="monetary")
        assert inertia == fit.inertia
        assert silhouette == pytest.approx(silhouette_reference(z, fit.labels["cluster"].to_numpy()), abs=1e-12)


def test_choose_k_samples_rows():
    x = separated(5000, 3, 2, seed=9)
    a = crm.choose_k(x, ks=[2, 3, 4], sample=800, seed=1)
    b = crm.choose_k(x, ks=[2, 3, 4], sample=800, seed=1)
    assert isinstance(a, dict) and a["k"].tolist() == [2, 3, 4]
    np.testing.assert_array_equal(a["inertia"], b["inertia"])
    assert a["silhouette"][1] == max(a["silhouette"])  # three blobs
    assert a["inertia"][0] < crm.kmeans(x, k=2).inertia  # on 800 of the 5000 rows
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    z = standardize(x[:400])[0]
    labels = crm.kmeans(x[:400], k=3).labels
    ours = crm.choose_k(x[:400], ks=[3])["silhouette"][0]
    assert ours == pytest.approx(sklearn_metrics.silhouette_score(z, labels), abs=1e-12)


# --- frames in and out -----------------------------------------------------------------


def test_pandas_polars_pyarrow_in_and_out():
    table = rfm_like(400, seed=7)
    base = crm.kmeans(table, k=3, seed=1)
    assert list(base.labels.columns) == ["customer_id", "cluster"]
    assert list(base.centers.columns) == ["cluster", *FEATURES]
    assert list(base.profiles.columns) == ["cluster", "size", "share"] + [
        f"{f}_{s}" for f in FEATURES for s in ("mean", "median")
    ]
    assert base.labels["customer_id"].tolist() == table["customer_id"].tolist()
    for frame, kind in ((pl.from_pandas(table), pl.DataFrame), (pa.Table.from_pandas(table), pa.Table)):
        other = crm.kmeans(frame, k=3, seed=1)
        for part in ("labels", "centers", "profiles"):
            got = getattr(other, part)
            assert isinstance(got, kind)
            pd.testing.assert_frame_equal(pd.DataFrame(got.to_pandas()), getattr(base, part), check_dtype=False)
        assert other.inertia == base.inertia
        assert isinstance(crm.choose_k(frame, ks=[2]), kind)
    as_dict = crm.kmeans({c: table[c].to_numpy() for c in table.columns}, k=3, seed=1)
    np.testing.assert_array_equal(as_dict.labels["cluster"], base.labels["cluster"])
    assert "KMeansResult(k=3" in repr(base)


def test_keys_and_numpy_results():
    table = rfm_like(200)
    assert list(crm.kmeans(table, k=2, key=()).labels.columns) == ["cluster"]
    named = crm.kmeans(table.assign(segment="a"), k=2, key=["segment", "customer_id"])
    assert list(named.labels.columns) == ["segment", "customer_id", "cluster"]
    first_is_feature = crm.kmeans(table[["recency", "frequency", "monetary", "customer_id"]], k=2)
    assert list(first_is_feature.labels.columns) == ["cluster"]
    x = table[FEATURES].to_numpy(dtype=float)
    result = crm.kmeans(x, k=2)
    assert isinstance(result.labels, np.ndarray) and result.labels.shape == (200,)
    assert result.centers.shape == (2, 3)
    np.testing.assert_array_equal(result.labels, crm.kmeans(table, k=2).labels["cluster"])
    assert sorted(result.profiles) == sorted(["cluster", "size", "share"] + [f"x{j}_{s}" for j in range(3) for s in ("mean", "median")])


# --- edge cases ------------------------------------------------------------------------


def test_one_cluster():
    table = rfm_like(100)
    result = crm.kmeans(table, k=1)
    assert set(result.labels["cluster"]) == {0}
    np.testing.assert_allclose(result.centers[FEATURES].iloc[0], table[FEATURES].mean(), rtol=1e-12)
    assert result.inertia == pytest.approx(100 * 3, rel=1e-12)  # z-scores: variance 1 per feature
    assert result.converged


def test_duplicate_points():
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [5.0, 6.0]]), [50, 30, 20], axis=0)
    result = crm.kmeans(x, k=3, scale=None)
    assert result.inertia == 0.0
    assert len({tuple(c) for c in result.centers}) == 3
    assert sorted(result.profiles["size"].tolist()) == [20, 30, 50]


def test_more_clusters_than_distinct_points_warns_and_leaves_clusters_empty():
    x = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [2.0, 2.0], [3.0, 0.0]])
    with pytest.warns(RuntimeWarning, match="2 of the 5 clusters are empty"):
        result = crm.kmeans(x, k=5, scale=None)
    assert result.inertia == 0.0
    assert result.labels[0] == result.labels[1] and result.labels[2] == result.labels[3]
    sizes = result.profiles["size"]
    assert sorted(sizes.tolist()) == [0, 0, 1, 2, 2]
    assert np.isnan(result.profiles["x0_mean"][sizes == 0]).all()


def test_constant_feature_is_only_centred():
    table = rfm_like(100).assign(frequency=3)
    result = crm.kmeans(table, k=2)
    assert (result.centers["frequency"] == 3).all()


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "what"), [(np.nan, "NaN"), (np.inf, "inf"), (None, "null")]
)
def test_unusable_values_name_column_count_and_first_row(value, what):
    table = rfm_like(50)
    table["monetary"] = table["monetary"].astype(object)
    table.loc[[7, 9], "monetary"] = value
    table["monetary"] = table["monetary"].astype(float)
    for frame in (table, pa.Table.from_pandas(table)):
        with pytest.raises(crm.InvalidDataError, match=r"column 'monetary' has 2 null, NaN or infinite value\(s\) \(first at row 7\)"):
            crm.kmeans(frame, k=2)
    with pytest.raises(crm.InvalidDataError, match="'monetary'"):
        crm.choose_k(table, ks=[2])


def test_bad_columns_and_arguments():
    table = rfm_like(30)
    with pytest.raises(crm.ColumnTypeError, match="'segment'"):
        crm.kmeans(table.assign(segment="x"), columns=["recency", "segment"], k=2)
    with pytest.raises(crm.ColumnNotFoundError, match="'spend'"):
        crm.kmeans(table, columns=["recency", "spend"], k=2)
    with pytest.raises(crm.ColumnTypeError):
        crm.kmeans(np.array([["a", "b"]]), k=1)
    for kwargs in (
        {"k": 0},
        {"k": 31},
        {"k": 2, "scale": "minmax"},
        {"k": 2, "log": ["customer_id"]},
        {"k": 2, "init": np.zeros((3, 3))},
        {"k": 2, "init": [[0.0, np.nan, 0.0], [1.0, 1.0, 1.0]]},
        {"k": 2, "seed": -1},
        {"k": 2, "max_iter": 0},
        {"k": 2, "tol": -1.0},
        {"k": 2, "n_init": 0},
    ):
        with pytest.raises(crm.InvalidArgumentError):
            crm.kmeans(table, **kwargs)
    with pytest.raises(crm.InvalidDataError, match="log1p"):
        crm.kmeans(table.assign(monetary=-5.0), k=2, log="monetary")
    with pytest.raises(crm.InvalidArgumentError):
        crm.choose_k(table, ks=[2, 40])
    with pytest.raises(crm.InvalidArgumentError):
        crm.kmeans(np.zeros(5), k=1)


def test_row_order_parameter_is_kept_and_changes_nothing():
    x = blobs(300, 3, 2, seed=3)
    for options in ({"seed": 1}, {"init": standardize(x)[0][:3]}):
        given_order = crm.kmeans(x, k=3, row_order="input", **options)
        default = crm.kmeans(x, k=3, **options)
        assert (given_order.labels == default.labels).all()
        assert given_order.inertia == default.inertia and given_order.centers.tobytes() == default.centers.tobytes()
    with pytest.raises(crm.InvalidArgumentError, match="row_order"):
        crm.kmeans(x, k=3, row_order="sorted")


def test_a_permutation_of_many_rows_gives_the_same_fit_bit_for_bit():
    # Several chunks of rows, many identical rows (integer-valued features), n_init > 1.
    rng = np.random.default_rng(7)
    x = np.column_stack([rng.integers(0, 30, 30_000), rng.poisson(3, 30_000), rng.lognormal(size=30_000).round(1)])
    order = rng.permutation(len(x))
    for options in ({"k": 7, "seed": 11, "n_init": 2, "log": ["x2"]}, {"k": 3, "seed": 0, "scale": None, "tol": 0.0}):
        base = crm.kmeans(x, **options)
        shuffled = crm.kmeans(x[order], **options)
        np.testing.assert_array_equal(shuffled.labels, base.labels[order])
        assert shuffled.centers.tobytes() == base.centers.tobytes()
        assert (shuffled.inertia, shuffled.n_iter) == (base.inertia, base.n_iter)
        for name, column in base.profiles.items():
            np.testing.assert_array_equal(shuffled.profiles[name], column)
