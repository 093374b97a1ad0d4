//! `crm._core.kmeans` and `choose_k`: read the feature columns, transform, cluster, emit.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::arrow::{read_stream, to_capsule};
use super::errors::detach;
use crate::cluster::features::{check_finite, profiles, sample_rows, Transform};
use crate::cluster::kmeans::{kmeans as cluster, Options};
use crate::cluster::silhouette::scan_k;
use crate::cluster::{canonical_order, reorder};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::{column_index, numbers};

/// A numeric column of every batch as f64 values; a null, NaN or infinity is an error.
fn feature(schema: &SchemaRef, batches: &[RecordBatch], name: &str) -> Result<Vec<f64>> {
    let i = column_index(schema, name)?;
    let mut values = Vec::new();
    for b in batches {
        let column = b.column(i);
        match column.as_primitive_opt::<Float64Type>() {
            // The common case, copied in one go.
            Some(floats) if floats.null_count() == 0 => values.extend_from_slice(floats.values()),
            _ => values.extend(
                numbers(column, name)?
                    .into_iter()
                    .map(|v| v.unwrap_or(f64::NAN)),
            ),
        }
    }
    check_finite(name, &values)?; // nulls became NaN above
    Ok(values)
}

/// The features, their transform and the transformed columns, all in the canonical row order
/// (`order[p]` is the input row at position p), so that no result depends on the input order.
type Prepared = (Vec<Vec<f64>>, Transform, Vec<Vec<f64>>, Vec<u32>);

fn prepare(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    columns: &[String],
    log: &[String],
    standardize: bool,
    canonical: bool,
) -> Result<Prepared> {
    if let Some(name) = log.iter().find(|l| !columns.contains(l)) {
        return Err(CrmError::InvalidArgument(format!(
            "log names '{name}', which is not one of the feature columns {columns:?}"
        )));
    }
    let features = columns
        .iter()
        .map(|c| feature(schema, batches, c))
        .collect::<Result<Vec<_>>>()?;
    let n = features.first().map_or(0, Vec::len) as u32;
    let (order, features) = if canonical {
        let order = canonical_order(&features);
        let features = reorder(&features, &order);
        (order, features)
    } else {
        ((0..n).collect(), features)
    };
    let take_log: Vec<bool> = columns.iter().map(|c| log.contains(c)).collect();
    let (transform, scaled) = Transform::fit(&features, columns, &take_log, standardize)?;
    Ok((features, transform, scaled, order))
}

fn slices(cols: &[Vec<f64>]) -> Vec<&[f64]> {
    cols.iter().map(Vec::as_slice).collect()
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
#[pyo3(signature = (data, *, columns, key=vec![], k=5, seed=0, standardize=true, log=vec![], max_iter=300, tol=1e-4, n_init=1, init=None, canonical=true))]
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
    canonical: bool,
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
        let (features, transform, scaled, order) =
            prepare(&schema, &batches, &columns, &log, standardize, canonical)?;
        let fit = cluster(&slices(&scaled), &options, init.as_deref())?;
        let mut input_labels = vec![0u32; order.len()];
        order
            .iter()
            .zip(&fit.labels)
            .for_each(|(&i, &l)| input_labels[i as usize] = l);
        let ids = || emit::int32((0..k as i32).map(Some).collect());

        let mut label_columns = key
            .iter()
            .map(|name| Ok((name.as_str(), whole_column(&schema, &batches, name)?)))
            .collect::<Result<Vec<_>>>()?;
        let cluster_of = emit::int32(input_labels.iter().map(|&l| Some(l as i32)).collect());
        label_columns.push(("cluster", cluster_of));

        let mut centre_columns = vec![("cluster", ids())];
        for (t, name) in columns.iter().enumerate() {
            let values = fit
                .centres
                .iter()
                .map(|c| transform.inverse(t, c[t]))
                .collect();
            centre_columns.push((name.as_str(), emit::floats(values)));
        }

        let p = profiles(&features, &fit.labels, k);
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
        let (_, _, scaled, _) = prepare(&schema, &batches, &columns, &log, standardize, true)?;
        let rows = sample_rows(scaled.first().map_or(0, Vec::len), sample, seed);
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
        let scores = scan_k(&slices(&sampled), &ks, &options)?;
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
