//! `crm._core.fit_btyd`, `predict_btyd`, `expected_purchases_new`, `fit_gamma_gamma`,
//! `expected_spend`, `clv`, `model_to_json`, `model_from_json`: the BTYD models.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use super::args::choice;
use super::arrow::{read_stream, to_capsule};
use super::errors::{detach, to_pyerr};
use crate::clv::{self as domain, gamma_gamma, saved, Customers, Fit, FitError, Model};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::float_column;

fn parse_model(py: Python<'_>, model: &str) -> PyResult<Model> {
    let models = [Model::BetaGeo, Model::ParetoNbd, Model::ModifiedBetaGeo];
    let names = ["BetaGeo", "ParetoNbd", "ModifiedBetaGeo"];
    Ok(models[choice(py, "model", model, &names)?])
}

/// The named float columns of a stream.
fn columns(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    names: Vec<String>,
) -> PyResult<(SchemaRef, Vec<RecordBatch>, Vec<String>)> {
    let (schema, batches) = read_stream(py, data)?;
    Ok((schema, batches, names))
}

fn read(schema: &SchemaRef, batches: &[RecordBatch], names: &[String]) -> Result<Vec<Vec<f64>>> {
    names
        .iter()
        .map(|n| float_column(schema, batches, n))
        .collect()
}

/// A fit (or the best failed attempt, with `converged` false and a `message`) as a dict.
fn fit_dict<'py>(
    py: Python<'py>,
    outcome: std::result::Result<Fit, FitError>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let fit = match outcome {
        Ok(fit) => fit,
        Err(FitError { message, best }) => {
            d.set_item("message", message)?;
            best.unwrap_or(Fit {
                params: vec![],
                log_likelihood: f64::NAN,
                standard_errors: vec![],
                iterations: 0,
                gradient_norm: f64::NAN,
                converged: false,
            })
        }
    };
    d.set_item("params", fit.params)?;
    d.set_item("log_likelihood", fit.log_likelihood)?;
    d.set_item("standard_errors", fit.standard_errors)?;
    d.set_item("iterations", fit.iterations)?;
    d.set_item("gradient_norm", fit.gradient_norm)?;
    d.set_item("converged", fit.converged)?;
    Ok(d)
}

fn one_column<'py>(
    py: Python<'py>,
    name: &str,
    values: Vec<f64>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let batch = emit::batch(vec![(name, emit::floats(values))]).map_err(|e| to_pyerr(py, e))?;
    to_capsule(py, batch)
}

#[pyfunction]
#[pyo3(signature = (data, *, model, frequency, recency, T, weights=None, penalizer=0.0))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn fit_btyd<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    model: &str,
    frequency: String,
    recency: String,
    T: String,
    weights: Option<String>,
    penalizer: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let model = parse_model(py, model)?;
    let mut names = vec![frequency, recency, T];
    names.extend(weights.clone());
    let (schema, batches, names) = columns(py, data, names)?;
    let outcome = detach(py, || {
        let c = read(&schema, &batches, &names)?;
        let data = Customers {
            frequency: &c[0],
            recency: &c[1],
            t: &c[2],
            weights: c.get(3).map(Vec::as_slice),
        };
        Ok(domain::fit(model, &data, penalizer))
    })?;
    fit_dict(py, outcome)
}

#[pyfunction]
#[pyo3(signature = (data, *, model, params, what, frequency, recency, T, t=0.0))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn predict_btyd<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    model: &str,
    params: Vec<f64>,
    what: &str,
    frequency: String,
    recency: String,
    T: String,
    t: f64,
) -> PyResult<Bound<'py, PyCapsule>> {
    let model = parse_model(py, model)?;
    let expected = choice(py, "what", what, &["expected_purchases", "p_alive"])? == 0;
    let (schema, batches, names) = columns(py, data, vec![frequency, recency, T])?;
    let values = detach(py, || {
        let c = read(&schema, &batches, &names)?;
        Ok(if expected {
            domain::expected_purchases(model, &params, t, &c[0], &c[1], &c[2])
        } else {
            domain::p_alive(model, &params, &c[0], &c[1], &c[2])
        })
    })?;
    one_column(py, what, values)
}

#[pyfunction]
#[pyo3(signature = (*, model, params, t))]
pub fn expected_purchases_new(
    py: Python<'_>,
    model: &str,
    params: Vec<f64>,
    t: f64,
) -> PyResult<f64> {
    Ok(domain::expected_purchases_new(
        parse_model(py, model)?,
        &params,
        t,
    ))
}

#[pyfunction]
#[pyo3(signature = (data, *, frequency, monetary_value, weights=None, penalizer=0.0))]
pub fn fit_gamma_gamma<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    frequency: String,
    monetary_value: String,
    weights: Option<String>,
    penalizer: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let mut names = vec![frequency, monetary_value];
    names.extend(weights);
    let (schema, batches, names) = columns(py, data, names)?;
    let outcome = detach(py, || {
        let c = read(&schema, &batches, &names)?;
        Ok(gamma_gamma::fit(
            &c[0],
            &c[1],
            c.get(2).map(Vec::as_slice),
            penalizer,
        ))
    })?;
    fit_dict(py, outcome)
}

#[pyfunction]
#[pyo3(signature = (data, *, params, frequency, monetary_value))]
pub fn expected_spend<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    params: Vec<f64>,
    frequency: String,
    monetary_value: String,
) -> PyResult<Bound<'py, PyCapsule>> {
    let (schema, batches, names) = columns(py, data, vec![frequency, monetary_value])?;
    let values = detach(py, || {
        let c = read(&schema, &batches, &names)?;
        Ok(gamma_gamma::expected_spend(&params, &c[0], &c[1]))
    })?;
    one_column(py, "expected_spend", values)
}

#[pyfunction]
#[pyo3(signature = (data, *, model, params, spend_params, frequency, recency, T, monetary_value, horizon, period_length, discount_rate, margin))]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub fn clv<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    model: &str,
    params: Vec<f64>,
    spend_params: Vec<f64>,
    frequency: String,
    recency: String,
    T: String,
    monetary_value: String,
    horizon: usize,
    period_length: f64,
    discount_rate: f64,
    margin: f64,
) -> PyResult<Bound<'py, PyCapsule>> {
    let model = parse_model(py, model)?;
    if !(discount_rate > -1.0 && period_length > 0.0 && margin.is_finite()) {
        return Err(to_pyerr(
            py,
            CrmError::InvalidArgument(
                "discount_rate must be above -1, the period positive and margin finite".into(),
            ),
        ));
    }
    let names = vec![frequency, recency, T, monetary_value];
    let (schema, batches, names) = columns(py, data, names)?;
    let values = detach(py, || {
        let c = read(&schema, &batches, &names)?;
        Ok(domain::clv(
            model,
            &params,
            &spend_params,
            &c[0],
            &c[1],
            &c[2],
            &c[3],
            horizon,
            period_length,
            discount_rate,
            margin,
        ))
    })?;
    one_column(py, "clv", values)
}

#[pyfunction]
#[pyo3(signature = (*, model, penalizer, params, log_likelihood, standard_errors, iterations, gradient_norm, converged))]
#[allow(clippy::too_many_arguments)]
pub fn model_to_json(
    py: Python<'_>,
    model: &str,
    penalizer: f64,
    params: Vec<f64>,
    log_likelihood: f64,
    standard_errors: Vec<f64>,
    iterations: usize,
    gradient_norm: f64,
    converged: bool,
) -> PyResult<String> {
    let fit = Fit {
        params,
        log_likelihood,
        standard_errors,
        iterations,
        gradient_norm,
        converged,
    };
    saved::to_json(model, penalizer, fit).map_err(|e| to_pyerr(py, e))
}

#[pyfunction]
pub fn model_from_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let saved = saved::from_json(text).map_err(|e| to_pyerr(py, e))?;
    let d = fit_dict(py, Ok(saved.fit))?;
    d.set_item("model", saved.model)?;
    d.set_item("penalizer", saved.penalizer)?;
    Ok(d)
}
