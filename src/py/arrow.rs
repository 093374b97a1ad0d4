//! The Arrow C stream interface, both ways, over arrow-array's `ffi_stream`.

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::errors::to_pyerr;

const STREAM: &std::ffi::CStr = c"arrow_array_stream";

/// Read every batch of an object exposing `__arrow_c_stream__` (pyarrow, polars, pandas,
/// duckdb, ...). Buffers are shared with the producer, not copied.
pub fn read_stream(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a table exposing __arrow_c_stream__ (pandas, polars, pyarrow, duckdb), got {}",
            data.get_type().name()?
        )));
    }
    let capsule = data.call_method1("__arrow_c_stream__", (py.None(),))?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: the capsule holds an FFI_ArrowArrayStream (its name says so); `from_raw`
    // moves it out and leaves a released stream behind for the capsule's destructor.
    let reader = unsafe {
        ArrowArrayStreamReader::from_raw(pointer.as_ptr().cast::<FFI_ArrowArrayStream>())
    }
    .map_err(|e| to_pyerr(py, e.into()))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| to_pyerr(py, e.into()))?;
    Ok((schema, batches))
}

/// Hand a batch to Python as an `arrow_array_stream` capsule.
pub fn to_capsule(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyCapsule>> {
    let schema = batch.schema();
    let reader: Box<dyn RecordBatchReader + Send> =
        Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema));
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM)
}
