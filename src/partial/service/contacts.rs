//! The "contact_counts" state (`contacts`).

use std::sync::Arc;

use arrow_array::types::{Int32Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use rayon::prelude::*;

use super::{
    coded_column, concat_parts, different_parameters, metadata_value, numbers, period_code,
    read_columns, same_labels, state_batch, take_column, Labels, CONTACT_COUNTS, LABEL_COLUMNS_KEY,
    PERIOD_KEY,
};
use crate::emit;
use crate::error::{CrmError, Result};
use crate::ingest::keys::{self, KeyIndex, SpanPerRow};
use crate::ingest::named::shared_customers;
use crate::partial::{check_kind, not_partial};
use crate::periods::{Calendar, Period};
use crate::service::contacts::Contacts;

/// A contact log in codes, as read from its rows or from a state: what `contacts` derives
/// its tables from.
pub struct CodedContacts {
    pub index: KeyIndex,
    pub customers: Vec<u32>,
    pub departments: Vec<u32>,
    /// The departments' values, by code.
    pub department_names: ArrayRef,
    /// All 0 without a product column.
    pub products: Vec<u32>,
    pub product_names: Option<ArrayRef>,
    pub days: Vec<i32>,
    /// The contacts each row stands for (`None`: one each).
    pub contacts: Option<Vec<u32>>,
}

impl CodedContacts {
    pub fn log(&self) -> Contacts<'_> {
        Contacts {
            customers: &self.customers,
            departments: &self.departments,
            products: &self.products,
            n_products: self
                .product_names
                .as_ref()
                .map_or(1, |p| p.len().max(1) as u32),
            days: &self.days,
            contacts: self.contacts.as_deref(),
        }
    }

    /// The periods from the first day's to the last day's.
    pub fn calendar(&self, period: Period) -> Calendar {
        let (first, last) = (self.days.iter().min(), self.days.iter().max());
        Calendar::new(
            period,
            first.copied().unwrap_or(0),
            last.copied().unwrap_or(0),
        )
    }
}

const CONTACT_COLUMNS: [&str; 2] = ["period", "contacts"];

/// An entry of a merge of contact counts: customer, department and product codes, period
/// (first day), contacts.
type ContactEntry = (u32, u32, u32, i32, u32);

/// The "contact_counts" state: per customer, department, product (when grouped by product)
/// and period (its first day), the number of contacts.
pub struct ContactCounts {
    /// The customer key, the department and (when given) product columns: per entry, their
    /// values.
    pub columns: Labels,
    pub periods: Vec<i32>,
    pub contacts: Vec<u32>,
    pub period: Period,
}

impl ContactCounts {
    /// The contacts of a log condensed per customer, department, product and period.
    /// `names`: the customer, department and (when given) product column names.
    pub fn from_log(log: &CodedContacts, names: &[&str], period: Period) -> Result<Self> {
        let calendar = log.calendar(period);
        let mut entries: Vec<(u32, u32, u32, u32)> = (0..log.days.len())
            .into_par_iter()
            .map(|r| {
                let local = calendar.of(log.days[r]) as u32;
                (log.customers[r], log.departments[r], log.products[r], local)
            })
            .collect();
        entries.par_sort_unstable();
        let runs: Vec<&[(u32, u32, u32, u32)]> = entries.chunk_by(|a, b| a == b).collect();
        let contacts = runs.iter().map(|r| r.len() as u32).collect();
        let entry = |f: fn(&(u32, u32, u32, u32)) -> u32| -> Vec<u32> {
            runs.iter().map(|r| f(&r[0])).collect()
        };
        let mut columns = vec![
            (names[0].to_string(), log.index.keys(&entry(|e| e.0))?),
            (
                names[1].to_string(),
                coded_column(entry(|e| e.1), &log.department_names)?,
            ),
        ];
        if let (Some(name), Some(values)) = (names.get(2), &log.product_names) {
            columns.push((name.to_string(), coded_column(entry(|e| e.2), values)?));
        }
        let starts = calendar.starts();
        Ok(ContactCounts {
            columns,
            periods: runs.iter().map(|r| starts[r[0].3 as usize]).collect(),
            contacts,
            period,
        })
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut columns = self.columns.clone();
        columns.extend([
            ("period".to_string(), emit::int32s(self.periods.clone())),
            (
                "contacts".to_string(),
                Arc::new(UInt32Array::from(self.contacts.clone())) as ArrayRef,
            ),
        ]);
        let metadata = vec![
            (LABEL_COLUMNS_KEY, self.columns.len().to_string()),
            (PERIOD_KEY, period_code(self.period).to_string()),
        ];
        state_batch(CONTACT_COUNTS, columns, metadata)
    }

    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Self> {
        check_kind(schema, CONTACT_COUNTS)?;
        let n = metadata_value::<usize>(schema, LABEL_COLUMNS_KEY)?.ok_or_else(not_partial)?;
        let period = metadata_value::<String>(schema, PERIOD_KEY)?.ok_or_else(not_partial)?;
        if !(2..=3).contains(&n) {
            return Err(not_partial());
        }
        let mut columns = read_columns(schema, batches, CONTACT_COUNTS, n, &CONTACT_COLUMNS)?;
        let contacts = numbers::<UInt32Type>(&take_column(&mut columns, "contacts"))?;
        let periods = numbers::<Int32Type>(&take_column(&mut columns, "period"))?;
        Ok(ContactCounts {
            columns,
            periods,
            contacts,
            period: Period::parse(&period)?,
        })
    }

    /// The counts of the union of the parts' rows, sorted by customer, department, product,
    /// period.
    pub fn merge(parts: Vec<ContactCounts>) -> Result<ContactCounts> {
        let Some(first) = parts.first() else {
            return Err(CrmError::InvalidArgument(
                "no partial states to merge".into(),
            ));
        };
        let period = first.period;
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        if !same_labels(&columns) || parts.iter().any(|p| p.period != period) {
            return Err(different_parameters());
        }
        let mut parts = parts;
        if parts.iter().all(|p| p.contacts.is_empty()) {
            parts.truncate(1);
            return Ok(parts.remove(0));
        }
        parts.retain(|p| !p.contacts.is_empty());
        let columns: Vec<&Labels> = parts.iter().map(|p| &p.columns).collect();
        let all = concat_parts(&columns)?;
        let periods: Vec<i32> = parts.iter().flat_map(|p| p.periods.clone()).collect();
        let contacts: Vec<u32> = parts.iter().flat_map(|p| p.contacts.clone()).collect();
        let coded = coded_contacts(&all, periods, Some(contacts))?;
        let names: Vec<&str> = all.iter().map(|c| c.0.as_str()).collect();
        let mut entries: Vec<ContactEntry> = (0..coded.days.len())
            .into_par_iter()
            .map(|r| {
                let n = coded.contacts.as_ref().map_or(1, |c| c[r]);
                let (c, d, p) = (coded.customers[r], coded.departments[r], coded.products[r]);
                (c, d, p, coded.days[r], n)
            })
            .collect();
        entries.par_sort_unstable();
        let runs: Vec<&[ContactEntry]> = entries
            .chunk_by(|a, b| (a.0, a.1, a.2, a.3) == (b.0, b.1, b.2, b.3))
            .collect();
        let entry =
            |f: fn(&ContactEntry) -> u32| -> Vec<u32> { runs.iter().map(|r| f(&r[0])).collect() };
        let mut columns = vec![
            (names[0].to_string(), coded.index.keys(&entry(|e| e.0))?),
            (
                names[1].to_string(),
                coded_column(entry(|e| e.1), &coded.department_names)?,
            ),
        ];
        if let (Some(name), Some(values)) = (names.get(2), &coded.product_names) {
            columns.push((name.to_string(), coded_column(entry(|e| e.2), values)?));
        }
        Ok(ContactCounts {
            columns,
            periods: runs.iter().map(|r| r[0].3).collect(),
            contacts: runs.iter().map(|r| r.iter().map(|e| e.4).sum()).collect(),
            period,
        })
    }

    /// The state as a coded log whose rows are its entries, each standing for its contacts.
    pub fn into_coded(self) -> Result<CodedContacts> {
        coded_contacts(&self.columns, self.periods, Some(self.contacts))
    }
}

/// Codes of a contact log's columns (customer key, department, optional product).
pub(super) fn coded_contacts(
    columns: &Labels,
    days: Vec<i32>,
    contacts: Option<Vec<u32>>,
) -> Result<CodedContacts> {
    let (customer, department) = (&columns[0], &columns[1]);
    let (index, mut customers) = shared_customers(
        &[(std::slice::from_ref(&customer.1), customer.0.as_str())],
        SpanPerRow::Double,
    )?;
    let codes = |(name, values): &(String, ArrayRef)| -> Result<(Vec<u32>, ArrayRef)> {
        if values.is_empty() {
            return Ok((vec![], values.slice(0, 0)));
        }
        let (codes, uniques) = keys::encode(std::slice::from_ref(values), name)?;
        Ok((codes.concat(), uniques))
    };
    let (departments, department_names) = codes(department)?;
    let (products, product_names) = match columns.get(2) {
        Some(product) => {
            let (codes, names) = codes(product)?;
            (codes, Some(names))
        }
        None => (vec![0; days.len()], None),
    };
    Ok(CodedContacts {
        index,
        customers: customers.remove(0),
        departments,
        department_names,
        products,
        product_names,
        days,
        contacts,
    })
}
