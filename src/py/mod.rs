//! The binding layer: argument conversion, GIL release, error mapping. No domain logic.

mod alloc;
mod args;
mod arrow;
mod baskets;
mod cluster;
mod clv;
mod errors;
mod models;
mod partial;
mod partial_baskets;
mod partial_history;
mod partial_service;
mod retention;
mod rfm;
mod service;
mod value;

use pyo3::prelude::*;

#[global_allocator]
static ALLOCATOR: alloc::LargeBlocksMapped = alloc::LargeBlocksMapped;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    crate::memory::set_release(alloc::release_freed_pages);
    m.add_function(wrap_pyfunction!(alloc::keep_freed_memory_for, m)?)?;
    m.add_function(wrap_pyfunction!(rfm::rfm, m)?)?;
    m.add_function(wrap_pyfunction!(rfm::segment, m)?)?;
    m.add_class::<partial::StateFold>()?;
    m.add_function(wrap_pyfunction!(partial::partial_state, m)?)?;
    m.add_function(wrap_pyfunction!(partial::merge_partial_states, m)?)?;
    m.add_function(wrap_pyfunction!(partial::rfm_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(partial_history::summary_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::calibration_holdout_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::repurchase_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::interpurchase_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::lifecycle_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::churn_risk_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(partial_history::cohorts_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::acquisition_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(partial_history::activity_from_partial, m)?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::profitability_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        partial_history::performance_from_partial,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(partial_history::loyalty_from_partial, m)?)?;
    partial_service::register(m)?;
    m.add_function(wrap_pyfunction!(retention::repurchase, m)?)?;
    m.add_function(wrap_pyfunction!(retention::interpurchase, m)?)?;
    m.add_function(wrap_pyfunction!(retention::lifecycle, m)?)?;
    m.add_function(wrap_pyfunction!(retention::churn_risk, m)?)?;
    m.add_function(wrap_pyfunction!(retention::cohorts, m)?)?;
    m.add_function(wrap_pyfunction!(retention::acquisition, m)?)?;
    m.add_function(wrap_pyfunction!(retention::activity, m)?)?;
    m.add_function(wrap_pyfunction!(clv::summary, m)?)?;
    m.add_function(wrap_pyfunction!(clv::calibration_holdout, m)?)?;
    for f in [
        wrap_pyfunction!(models::fit_btyd, m)?,
        wrap_pyfunction!(models::predict_btyd, m)?,
        wrap_pyfunction!(models::expected_purchases_new, m)?,
        wrap_pyfunction!(models::fit_gamma_gamma, m)?,
        wrap_pyfunction!(models::expected_spend, m)?,
        wrap_pyfunction!(models::clv, m)?,
        wrap_pyfunction!(models::model_to_json, m)?,
        wrap_pyfunction!(models::model_from_json, m)?,
    ] {
        m.add_function(f)?;
    }
    for f in [
        wrap_pyfunction!(value::profitability, m)?,
        wrap_pyfunction!(value::performance, m)?,
        wrap_pyfunction!(value::loyalty, m)?,
        wrap_pyfunction!(baskets::frequent_itemsets, m)?,
        wrap_pyfunction!(baskets::basket_rules, m)?,
        wrap_pyfunction!(baskets::cross_sell, m)?,
        wrap_pyfunction!(service::tickets, m)?,
        wrap_pyfunction!(service::contacts, m)?,
        wrap_pyfunction!(service::satisfaction, m)?,
        wrap_pyfunction!(cluster::kmeans, m)?,
        wrap_pyfunction!(cluster::choose_k, m)?,
    ] {
        m.add_function(f)?;
    }
    partial_baskets::register(m)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    Ok(())
}

/// Threads of the private pool (`CRM_NUM_THREADS`, default: all cores).
#[pyfunction]
fn num_threads() -> usize {
    crate::pool::num_threads()
}
