//! `crm._core.kmeans` and `choose_k`: read the feature columns, transform, cluster, emit.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use rayon::prelude::*;

use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use crate::cluster::features::{check_finite, profiles, sample_rows, Transform};
use crate::cluster::kmeans::{kmeans as cluster, Options};
use crate::cluster::silhouette::scan_k;
use crate::cluster::{canonical_order, reorder};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::{column_index, numbers};

/// A numeric column of every batch as f64 values, borrowed when it is one float64 array
/// without nulls; a null, NaN or infinity is an error.
fn feature<'a>(
    schema: &SchemaRef,
    batches: &'a [RecordBatch],
    name: &str,
) -> Result<Cow<'a, [f64]>> {
    let i = column_index(schema, name)?;
    let floats = |b: &'a RecordBatch| {
        b.column(i)
            .as_primitive_opt::<Float64Type>()
            .filter(|floats| floats.null_count() == 0)
    };
    let borrowed = match batches {
        [b] => floats(b).map(|floats| Cow::Borrowed(&floats.values()[..])),
        _ => None,
    };
    let values = match borrowed {
        Some(values) => values,
        None => {
            let mut values = Vec::new();
            for b in batches {
                match floats(b) {
                    Some(floats) => values.extend_from_slice(floats.values()),
                    None => values.extend(
                        numbers(b.column(i), name)?
                            .into_iter()
                            .map(|v| v.unwrap_or(f64::NAN)),
                    ),
                }
            }
            Cow::Owned(values)
        }
    };
    check_finite(name, &values)?; // nulls became NaN above
    Ok(values)
}

/// The feature columns, checked.
fn prepare<'a>(
    schema: &SchemaRef,
    batches: &'a [RecordBatch],
    columns: &[String],
    log: &[String],
) -> Result<Vec<Cow<'a, [f64]>>> {
    if let Some(name) = log.iter().find(|l| !columns.contains(l)) {
        return Err(CrmError::InvalidArgument(format!(
            "log names '{name}', which is not one of the feature columns {columns:?}"
        )));
    }
    columns
        .iter()
        .map(|c| feature(schema, batches, c))
        .collect()
}

/// The transform of the prepared features and the columns to cluster.
fn transform<'a>(
    features: &'a [Cow<'_, [f64]>],
    columns: &[String],
    log: &[String],
    standardize: bool,
) -> Result<(Transform, Vec<Cow<'a, [f64]>>)> {
    let take_log: Vec<bool> = columns.iter().map(|c| log.contains(c)).collect();
    Transform::fit(&slices(features), columns, &take_log, standardize)
}

fn slices<'a>(cols: &'a [Cow<'_, [f64]>]) -> Vec<&'a [f64]> {
    cols.iter().map(|c| &c[..]).collect()
}

/// A column of every batch, concatenated.
fn whole_column(schema: &SchemaRef, batches: &[RecordBatch], name: &str) -> Result<ArrayRef> {
    let i = column_index(schema, name)?;
    let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
    if parts.is_empty() {
        return Ok(arrow_array::new_empty_array(schema.field(i).data_type()));
    }
    Ok(arrow_select::concat::concat(&parts)?)
}

type Capsule<'py> = Bound<'py, PyCapsule>;

#[pyfunction]
#[pyo3(signature = (data, *, columns, key=vec![], k=5, seed=0, standardize=true, log=vec![], max_iter=300, tol=1e-4, n_init=1, init=None))]
#[allow(clippy::too_many_arguments)]
pub fn kmeans<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    columns: Vec<String>,
    key: Vec<String>,
    k: usize,
    seed: u64,
    standardize: bool,
    log: Vec<String>,
    max_iter: usize,
    tol: f64,
    n_init: usize,
    init: Option<Vec<Vec<f64>>>,
) -> PyResult<(Capsule<'py>, Capsule<'py>, Capsule<'py>, f64, usize, bool)> {
    let (schema, batches) = read_stream(py, data)?;
    let options = Options {
        k,
        max_iter,
        tol,
        n_init,
        seed,
    };
    let (labels, centres, profile, fit) = detach(py, || {
        let features = prepare(&schema, &batches, &columns, &log)?;
        let (transform, scaled) = transform(&features, &columns, &log, standardize)?;
        let fit = cluster(&slices(&scaled), &options, init.as_deref())?;
        drop(scaled);
        let labels = fit.labels.par_iter().map(|&l| l as i32).collect();
        let ids = || emit::int32((0..k as i32).map(Some).collect());

        let mut label_columns = key
            .iter()
            .map(|name| Ok((name.as_str(), whole_column(&schema, &batches, name)?)))
            .collect::<Result<Vec<_>>>()?;
        label_columns.push(("cluster", emit::int32s(labels)));

        let mut centre_columns = vec![("cluster", ids())];
        for (t, name) in columns.iter().enumerate() {
            let values = fit
                .centres
                .iter()
                .map(|c| transform.inverse(t, c[t]))
                .collect();
            centre_columns.push((name.as_str(), emit::floats(values)));
        }

        let p = profiles(&slices(&features), &fit.labels, k);
        let n = fit.labels.len() as f64;
        let mut profile_columns: Vec<(String, ArrayRef)> = vec![
            ("cluster".into(), ids()),
            (
                "size".into(),
                emit::int64(p.size.iter().map(|&s| s as i64).collect()),
            ),
            (
                "share".into(),
                emit::floats(p.size.iter().map(|&s| s as f64 / n).collect()),
            ),
        ];
        for (t, name) in columns.iter().enumerate() {
            profile_columns.push((format!("{name}_mean"), emit::float64(p.mean[t].clone())));
            profile_columns.push((format!("{name}_median"), emit::float64(p.median[t].clone())));
        }
        let profile_columns = profile_columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect();
        Ok((
            emit::batch(label_columns)?,
            emit::batch(centre_columns)?,
            emit::batch(profile_columns)?,
            fit,
        ))
    })?;
    Ok((
        to_capsule(py, labels)?,
        to_capsule(py, centres)?,
        to_capsule(py, profile)?,
        fit.inertia,
        fit.n_iter,
        fit.converged,
    ))
}

#[pyfunction]
#[pyo3(signature = (data, *, columns, ks, sample=20_000, seed=0, standardize=true, log=vec![], max_iter=300, tol=1e-4, n_init=1))]
#[allow(clippy::too_many_arguments)]
pub fn choose_k<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    columns: Vec<String>,
    ks: Vec<usize>,
    sample: usize,
    seed: u64,
    standardize: bool,
    log: Vec<String>,
    max_iter: usize,
    tol: f64,
    n_init: usize,
) -> PyResult<Capsule<'py>> {
    let (schema, batches) = read_stream(py, data)?;
    let batch = detach(py, || {
        // The sample is drawn by position, so from the rows in an order given by their values.
        let features = prepare(&schema, &batches, &columns, &log)?;
        let order = canonical_order(&slices(&features));
        let features: Vec<Cow<[f64]>> = reorder(&slices(&features), &order)
            .into_iter()
            .map(Cow::Owned)
            .collect();
        let (_, scaled) = transform(&features, &columns, &log, standardize)?;
        let rows = sample_rows(scaled.first().map_or(0, |c| c.len()), sample, seed);
        let sampled: Vec<Vec<f64>> = scaled
            .iter()
            .map(|c| rows.iter().map(|&i| c[i]).collect())
            .collect();
        let options = Options {
            k: 0,
            max_iter,
            tol,
            n_init,
            seed,
        };
        let sampled: Vec<&[f64]> = sampled.iter().map(Vec::as_slice).collect();
        let scores = scan_k(&sampled, &ks, &options)?;
        emit::batch(vec![
            (
                "k",
                emit::int64(scores.iter().map(|s| s.k as i64).collect()),
            ),
            (
                "inertia",
                emit::floats(scores.iter().map(|s| s.inertia).collect()),
            ),
            (
                "silhouette",
                emit::float64(scores.iter().map(|s| s.silhouette).collect()),
            ),
        ])
    })?;
    to_capsule(py, batch)
}
