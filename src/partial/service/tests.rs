use super::contacts::coded_contacts;
use super::*;
use crate::ingest::instants::Instants;
use crate::ingest::keys::SpanPerRow;
use crate::ingest::named::shared_customers;
use crate::service::{contacts, satisfaction};
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, StringArray};
use rand::{Rng, SeedableRng};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// A state sent through its batch form, as it travels.
fn travelled<T>(batch: RecordBatch, read: fn(&SchemaRef, &[RecordBatch]) -> Result<T>) -> T {
    read(&batch.schema(), &[batch]).unwrap()
}

fn coded(values: &[i64], name: &str) -> (Vec<u32>, Groups) {
    let column: ArrayRef = Arc::new(Int64Array::from(values.to_vec()));
    let mut groups =
        Groups::encode(&[vec![column]], &[name.to_string()], &[DataType::Int64]).unwrap();
    (std::mem::take(&mut groups.codes).concat(), groups)
}

/// Tickets of kinds 0..3: opening, and closing (None while open).
type Ticket = (i64, i64, Option<i64>);

fn instants(micros: impl Iterator<Item = Option<i64>>) -> Instants {
    let micros: Vec<Option<i64>> = micros.collect();
    Instants {
        micros: micros.iter().map(|m| m.unwrap_or(0)).collect(),
        days: micros
            .iter()
            .map(|m| m.unwrap_or(0).div_euclid(DAY) as i32)
            .collect(),
        valid: Some(micros.iter().map(Option::is_some).collect()),
    }
}

fn ticket_cells(rows: &[Ticket], period: Option<Period>, as_of: Option<i32>) -> TicketCells {
    let kinds: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let (codes, groups) = coded(&kinds, "kind");
    let (opened, closed) = (
        instants(rows.iter().map(|r| Some(r.1))),
        instants(rows.iter().map(|r| r.2)),
    );
    let times = crate::service::tickets::Times {
        opened: &opened,
        closed: &closed,
    };
    let cells = crate::service::tickets::cells(&codes, &times, period, Cut::row_day(as_of));
    let state = TicketCells {
        labels: groups.labels(&cells.groups).unwrap(),
        cells,
        period,
        cut: Cut {
            max_day: times.latest_day(),
            as_of,
        },
    };
    travelled(state.to_batch().unwrap(), TicketCells::from_batches)
}

fn random_tickets(rng: &mut rand::rngs::StdRng) -> Vec<Ticket> {
    (0..rng.random_range(1..400))
        .map(|_| {
            let opened = rng.random_range(0..90) * DAY + rng.random_range(0..24) * HOUR;
            let closed = rng
                .random_bool(0.7)
                .then(|| opened + rng.random_range(0..300) * HOUR);
            (rng.random_range(0..3), opened, closed)
        })
        .collect()
}

#[test]
fn merged_ticket_cells_of_a_random_split_give_the_whole_logs_summary() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..20 {
        let rows = random_tickets(&mut rng);
        let (left, right): (Vec<Ticket>, Vec<Ticket>) =
            rows.iter().partition(|_| rng.random_bool(0.5));
        let period = (round % 2 == 0).then_some(Period::Week);
        let as_of = (round % 3 == 0).then_some(40);
        let whole = ticket_cells(&rows, period, as_of);
        let parts = vec![
            ticket_cells(&left, period, as_of),
            ticket_cells(&[], period, as_of),
            ticket_cells(&right, period, as_of),
        ];
        let merged = TicketCells::merge(parts).unwrap();
        let merged = travelled(merged.to_batch().unwrap(), TicketCells::from_batches);
        assert_eq!(merged.cut, whole.cut);
        let day = whole.cut.result_day();
        let kinds = |s: &TicketCells| s.labels[0].1.as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(kinds(&merged), kinds(&whole));
        // Exact: counts, quantiles of the same durations, integer sums for the mean.
        assert_eq!(merged.cells.summary(day), whole.cells.summary(day));
    }
}

#[test]
fn ticket_states_cut_at_different_days_or_periods_do_not_merge() {
    let rows = [(0, DAY, None)];
    for other in [
        ticket_cells(&rows, None, Some(3)),
        ticket_cells(&rows, Some(Period::Month), None),
    ] {
        let parts = vec![ticket_cells(&rows, None, None), other];
        let err = TicketCells::merge(parts).err().unwrap();
        assert!(err.to_string().contains("cannot be merged"), "{err}");
    }
}

/// Contacts: customer, department, product, day.
type Contact = (i64, i64, i64, i32);

fn contact_log(rows: &[Contact]) -> CodedContacts {
    let column = |f: fn(&Contact) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let labels: Labels = vec![
        ("customer".into(), column(|r| r.0)),
        ("department".into(), column(|r| r.1)),
        ("product".into(), column(|r| r.2)),
    ];
    coded_contacts(&labels, rows.iter().map(|r| r.3).collect(), None).unwrap()
}

fn contact_counts(rows: &[Contact]) -> ContactCounts {
    let names = ["customer", "department", "product"];
    let state = ContactCounts::from_log(&contact_log(rows), &names, Period::Week).unwrap();
    travelled(state.to_batch().unwrap(), ContactCounts::from_batches)
}

#[test]
fn merged_contact_counts_of_a_random_split_give_the_whole_logs_tables() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let rows: Vec<Contact> = (0..rng.random_range(1..500))
            .map(|_| {
                let customer = rng.random_range(0..40) * rng.random_range(1..3);
                let day = rng.random_range(19_000..19_100);
                (
                    customer,
                    rng.random_range(0..4),
                    rng.random_range(0..3),
                    day,
                )
            })
            .collect();
        let (left, right): (Vec<Contact>, Vec<Contact>) =
            rows.iter().partition(|_| rng.random_bool(0.5));
        let merged =
            ContactCounts::merge(vec![contact_counts(&left), contact_counts(&right)]).unwrap();
        let merged = travelled(merged.to_batch().unwrap(), ContactCounts::from_batches);
        let condensed = merged.into_coded().unwrap();
        let whole = contact_log(&rows);
        // The condensed log's days are its periods' first days: the same periods.
        let calendar = whole.calendar(Period::Week);
        assert_eq!(condensed.calendar(Period::Week).starts(), calendar.starts());
        let summary = |c: &CodedContacts| contacts::summary(&c.log(), &c.calendar(Period::Week));
        assert_eq!(summary(&condensed), summary(&whole));
        for min in [1, 2, 3] {
            let fatigue = |c: &CodedContacts| {
                let calendar = c.calendar(Period::Week);
                contacts::fatigue(&c.log(), &calendar, c.index.n_codes, min)
                    .into_iter()
                    .map(|f| {
                        let key = c.index.keys(&[f.customer]).unwrap();
                        let key = key.as_primitive::<Int64Type>().value(0);
                        (key, f.period, f.contacts, f.departments)
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(fatigue(&condensed), fatigue(&whole));
        }
    }
}

fn customer_scores(rows: &[(u32, &str, f64)]) -> CustomerScores {
    let groups: Vec<i64> = rows.iter().map(|r| r.0 as i64).collect();
    let (group_codes, groups) = coded(&groups, "region");
    let keys: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    ));
    let (index, codes) =
        shared_customers(&[(std::slice::from_ref(&keys), "c")], SpanPerRow::Half).unwrap();
    let values: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let scores = satisfaction::customer_scores(&group_codes, &codes[0], &values);
    let state = CustomerScores::new(&scores, Some(&groups), ("c", &index), "score").unwrap();
    travelled(state.to_batch().unwrap(), CustomerScores::from_batches)
}

fn ranked_keys(state: &CustomerScores) -> Vec<(u32, String, f64, u32)> {
    let (index, codes) = shared_customers(
        &[(std::slice::from_ref(&state.key.1), "c")],
        SpanPerRow::Half,
    )
    .unwrap();
    let (scores, _) = state.scores(&codes[0]).unwrap();
    let members = satisfaction::ranked(&scores, 0.3, true);
    let keys = index
        .keys(&members.iter().map(|m| m.customer).collect::<Vec<_>>())
        .unwrap();
    let keys = keys.as_string::<i32>();
    members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.group, keys.value(i).to_string(), m.score, m.rank))
        .collect()
}

#[test]
fn merged_customer_scores_of_a_random_split_rank_like_the_whole_log() {
    let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for _ in 0..20 {
        let rows: Vec<(u32, &str, f64)> = (0..rng.random_range(1..300))
            .map(|_| {
                let customer = &names[rng.random_range(0..30)];
                let score = rng.random_range(1..=10) as f64 / 4.0;
                (rng.random_range(0..3), customer.as_str(), score)
            })
            .collect();
        let (left, right): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.5));
        let merged =
            CustomerScores::merge(vec![customer_scores(&left), customer_scores(&right)]).unwrap();
        let merged = travelled(merged.to_batch().unwrap(), CustomerScores::from_batches);
        let whole = customer_scores(&rows);
        assert_eq!(merged.counts, whole.counts);
        assert_eq!(ranked_keys(&merged), ranked_keys(&whole));
    }
}

#[test]
fn a_service_state_of_another_kind_or_version_is_refused() {
    let batch = contact_counts(&[(1, 0, 0, 19_000)]).to_batch().unwrap();
    let err = TicketCells::from_batches(&batch.schema(), std::slice::from_ref(&batch))
        .err()
        .unwrap();
    assert!(err.to_string().contains("kind 'contact_counts'"), "{err}");
    let mut meta = batch.schema().metadata().clone();
    meta.insert(super::super::VERSION_KEY.into(), "3".into());
    let old = Arc::new(batch.schema().as_ref().clone().with_metadata(meta));
    let err = ContactCounts::from_batches(&old, &[]).err().unwrap();
    assert!(err.to_string().contains("version 3"), "{err}");
}
