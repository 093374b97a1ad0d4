//! The per-day partial state: merged splits equal the whole log, to the bit.

use super::*;
use crate::ingest::{ingest, OnInvalid};
use crate::periods::Period;
use crate::retention::{cohorts, repurchase};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Float64Array, Int64Array, StringArray};
use rand::{Rng, SeedableRng};

fn spec() -> Spec {
    Spec {
        customer: "c".into(),
        date: "d".into(),
        amount: "a".into(),
        need_codes: true,
        ..Spec::default()
    }
}

fn transactions(rows: &[(i64, i32, f64)]) -> Transactions {
    let rows: Vec<_> = rows.iter().map(|&(c, d, a)| (c, d, a, 0)).collect();
    let batch = crate::testing::log(&rows);
    ingest(&batch.schema(), &[batch], &spec(), OnInvalid::Raise).unwrap()
}

/// The state of some transactions, sent through its batch form as it would travel.
fn travelled(spec: &Spec, tx: &Transactions) -> CustomerDays {
    let batch = CustomerDays::from_transactions(spec, tx, 0)
        .unwrap()
        .to_batch()
        .unwrap();
    CustomerDays::from_batches(&batch.schema(), &[batch]).unwrap()
}

fn state(rows: &[(i64, i32, f64)]) -> CustomerDays {
    travelled(&spec(), &transactions(rows))
}

type Days = Vec<Vec<(i32, u32, u32, u32, f64, f64)>>;

fn days(h: &History) -> Days {
    h.parts
        .iter()
        .flat_map(|p| p.customers())
        .map(|(_, es)| {
            es.iter()
                .map(|e| (e.day, e.group, e.purchase_rows, e.purchases, e.net, e.spent))
                .collect()
        })
        .collect()
}

fn random_log(rng: &mut rand::rngs::StdRng) -> Vec<(i64, i32, f64)> {
    let n = rng.random_range(1..6_000);
    (0..n)
        .map(|_| {
            let amount = match rng.random_range(0..10) {
                0 => 0.0,
                1 => -(rng.random_range(1..5_000) as f64) / 100.0,
                _ => rng.random_range(1..50_000) as f64 / 100.0,
            };
            let customer = rng.random_range(0..400) * rng.random_range(1..4);
            (customer, rng.random_range(18_000..18_900), amount)
        })
        .collect()
}

fn ints(k: &ArrayRef) -> Vec<i64> {
    k.as_primitive::<Int64Type>().values().to_vec()
}

#[test]
fn merging_the_days_of_a_random_split_equals_the_history_of_the_whole_to_the_bit() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let rows = random_log(&mut rng);
        let (left, rest): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.4));
        let (middle, right): (Vec<_>, Vec<_>) = rest.iter().partition(|_| rng.random_bool(0.5));
        let merged = CustomerDays::merge(vec![
            state(&left),
            state(&[]),
            CustomerDays::merge(vec![state(&middle), state(&right)]).unwrap(),
        ])
        .unwrap();
        let tx = transactions(&rows);
        for rule in [Purchase::Positive, Purchase::NonNegative] {
            let whole = history::build_with(&tx, rule);
            let keys = tx.customers.keys(&whole.codes()).unwrap();
            let copy = CustomerDays {
                entries: merged.entries.clone(),
                ..merged.empty_like()
            };
            let copy = CustomerDays {
                keys: merged.keys.clone(),
                ..copy
            };
            let state = copy.into_history(rule).unwrap();
            assert_eq!(ints(&keys), ints(&state.keys));
            assert_eq!(whole.days, state.history.days);
            // Day sums merge to the bit.
            assert_eq!(days(&whole), days(&state.history));
        }
    }
}

#[test]
fn repurchase_and_cohorts_of_the_merged_history_equal_the_in_memory_ones() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let rows = random_log(&mut rng);
    let (left, right): (Vec<_>, Vec<_>) = rows.iter().partition(|_| rng.random_bool(0.5));
    let merged = CustomerDays::merge(vec![state(&left), state(&right)]).unwrap();
    let history = merged.into_history(Purchase::Positive).unwrap().history;
    let tx = transactions(&rows);
    for period in [None, Some(Period::Week), Some(Period::Month)] {
        let (a, b) = (
            repurchase::repurchase(&tx, period),
            repurchase::of_history(&history, period, false),
        );
        assert_eq!(
            (a.groups, a.starts, a.windows),
            (b.groups, b.starts, b.windows)
        );
    }
    let metric = cohorts::Metric::Retention;
    let (a, b) = (
        cohorts::cohorts(&tx, Period::Month, metric),
        cohorts::of_history(&history, Period::Month),
    );
    assert_eq!((a.starts, a.sizes, a.active), (b.starts, b.sizes, b.active));
}

/// A row with everything the optional parameters read: customer, day, amount, order id,
/// channel (a string `by` column), store (an integer one) and visits (an extra column).
type Row = (i64, i32, f64, i64, &'static str, i64, f64);

fn rich_spec() -> Spec {
    Spec {
        order: Some("o".into()),
        by: vec!["channel".into(), "store".into()],
        extra: vec!["visits".into()],
        ..spec()
    }
}

fn rich_transactions(rows: &[Row]) -> Transactions {
    rich_transactions_of(rows, &rich_spec())
}

fn rich_transactions_of(rows: &[Row], spec: &Spec) -> Transactions {
    let plain: Vec<_> = rows.iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
    let batch = crate::testing::log(&plain);
    let (mut fields, mut columns) = (batch.schema().fields().to_vec(), batch.columns().to_vec());
    let extra: [(&str, ArrayRef); 3] = [
        (
            "channel",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))),
        ),
        (
            "store",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.5))),
        ),
        (
            "visits",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.6))),
        ),
    ];
    for (name, column) in extra {
        fields.push(Arc::new(Field::new(
            name,
            column.data_type().clone(),
            false,
        )));
        columns.push(column);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    ingest(&batch.schema(), &[batch], spec, OnInvalid::Raise).unwrap()
}

/// A random log with orders whose lines fall on several days, two `by` columns and
/// visits with inexact sums.
fn random_rich_log(rng: &mut rand::rngs::StdRng) -> Vec<Row> {
    random_log(rng)
        .into_iter()
        .map(|(c, d, a)| {
            let order = c * 10 + rng.random_range(0..4); // lines of an order on several days
            let channel = ["web", "shop", "app"][rng.random_range(0..3)];
            let visits = rng.random_range(0..1_000) as f64 / 10.0;
            (c, d, a, order, channel, rng.random_range(0..2), visits)
        })
        .collect()
}

/// `rich_spec` whose visits are also summed over purchase rows (the last extra column).
fn units_spec() -> Spec {
    Spec {
        extra: vec!["visits".into(), "visits".into()],
        ..rich_spec()
    }
}

/// The state of `rows` under `units_spec`, sent through its batch form.
fn units_state(rows: &[Row]) -> CustomerDays {
    let spec = units_spec();
    let tx = rich_transactions_of(rows, &spec);
    let batch = CustomerDays::from_transactions(&spec, &tx, 1)
        .unwrap()
        .to_batch()
        .unwrap();
    CustomerDays::from_batches(&batch.schema(), &[batch]).unwrap()
}

/// A random split of a random log into three parts (and an empty one), merged in a tree.
fn merged_units_states(rng: &mut rand::rngs::StdRng) -> (Vec<Row>, CustomerDays) {
    let rows = random_rich_log(rng);
    let (left, rest): (Vec<Row>, Vec<Row>) = rows.iter().partition(|_| rng.random_bool(0.4));
    let (middle, right): (Vec<Row>, Vec<Row>) = rest.iter().partition(|_| rng.random_bool(0.5));
    let merged = CustomerDays::merge(vec![
        units_state(&right),
        units_state(&[]),
        CustomerDays::merge(vec![units_state(&left), units_state(&middle)]).unwrap(),
    ])
    .unwrap();
    let batch = merged.to_batch().unwrap();
    (
        rows,
        CustomerDays::from_batches(&batch.schema(), &[batch]).unwrap(),
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

#[test]
fn merged_extra_and_purchase_sums_are_the_sums_of_each_customer_group_and_day() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for _ in 0..10 {
        let (rows, merged) = merged_units_states(&mut rng);
        // Brute force: (customer, channel, store, day) -> (visits, visits of purchase rows).
        let mut expected = std::collections::BTreeMap::new();
        for &(c, d, a, _, channel, store, visits) in &rows {
            let sums = expected
                .entry((c, channel.to_string(), store, d))
                .or_insert((0.0, 0.0));
            sums.0 += visits;
            sums.1 += if a > 0.0 { visits } else { 0.0 };
        }
        assert_eq!(merged.entries.len(), expected.len());
        let (channels, stores) = (
            merged.groups[0].1.as_string::<i32>(),
            merged.groups[1].1.as_primitive::<Int64Type>(),
        );
        for (i, customer) in ints(&merged.keys).into_iter().enumerate() {
            let key = (
                customer,
                channels.value(i).to_string(),
                stores.value(i),
                merged.entries.day(i),
            );
            let (all, bought) = expected[&key];
            assert!(close(all, merged.extras[0].1[i].value()), "{key:?}");
            assert!(
                close(bought, merged.purchase_sums[0].1[i].value()),
                "{key:?}"
            );
        }
        // A customer's sum over a window of days is the sum of its entries there.
        let state = merged.into_history(Purchase::Positive).unwrap();
        let first = 18_450;
        let mut in_window = std::collections::BTreeMap::new();
        for &(c, d, _, _, _, _, visits) in &rows {
            *in_window.entry(c).or_insert(0.0) += if d >= first { visits } else { 0.0 };
        }
        let sums = state.extra_sums(|day| day >= first);
        let expected: Vec<f64> = in_window.into_values().collect();
        assert_eq!(sums[0].1.len(), expected.len());
        assert!(sums[0].1.iter().zip(&expected).all(|(a, b)| close(*a, *b)));
    }
}

#[test]
fn performance_of_the_merged_state_equals_the_in_memory_one() {
    use crate::value::performance::{performance, Units};
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    for period in [None, Some(Period::Week), Some(Period::Month)] {
        let (rows, merged) = merged_units_states(&mut rng);
        let state = merged.into_history(Purchase::Positive).unwrap();
        let units = Units::Entries(&state.purchase_sums[0].1);
        let got = performance(&state.history, period, Some(units));
        let tx = rich_transactions_of(&rows, &units_spec());
        let whole = history::build(&tx);
        let expected = performance(&whole, period, Some(Units::Rows(&tx, &tx.extras[1])));
        assert_eq!(
            (&got.groups, &got.starts, &got.customers, &got.orders),
            (
                &expected.groups,
                &expected.starts,
                &expected.customers,
                &expected.orders
            )
        );
        for (a, b) in [
            (&got.quantity, &expected.quantity),
            (&got.revenue, &expected.revenue),
            (&got.gross, &expected.gross),
            (&got.refunds, &expected.refunds),
        ] {
            assert_eq!(a.len(), b.len());
            assert!(a.iter().zip(b).all(|(x, y)| close(*x, *y)));
        }
    }
}

#[test]
fn a_state_of_layout_version_3_is_refused() {
    let batch = state(&[(1, 20, 5.0)]).to_batch().unwrap();
    let mut schema = batch.schema().as_ref().clone();
    schema
        .metadata
        .insert(crate::partial::VERSION_KEY.into(), "3".into());
    let err = CustomerDays::from_batches(&Arc::new(schema), &[batch])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("version 3 cannot be read"),
        "{err}"
    );
}

fn rich_state(rows: &[Row]) -> CustomerDays {
    travelled(&rich_spec(), &rich_transactions(rows))
}

/// Each customer's entries: (day, group labels, purchase rows, purchases, net).
type Labelled = Vec<Vec<(i32, String, u32, u32, f64)>>;

fn labelled(s: &StateHistory) -> Labelled {
    let label = |g: u32| {
        let labels = s.groups.as_ref().unwrap().labels(&[g]).unwrap();
        let channel = labels[0].1.as_string::<i32>().value(0).to_string();
        format!(
            "{channel}/{}",
            labels[1].1.as_primitive::<Int64Type>().value(0)
        )
    };
    let customers = s.history.parts.iter().flat_map(|p| p.customers());
    customers
        .map(|(_, es)| {
            let entry = |e: &Entry| (e.day, label(e.group), e.purchase_rows, e.purchases, e.net);
            es.iter().map(entry).collect()
        })
        .collect()
}

#[test]
fn an_order_split_over_two_parts_counts_once_on_its_earliest_day() {
    // Order 9: a line on day 21 in one part, on day 20 in the other. Order 8: lines on
    // day 21 in both. Order 7 is a refund only: no purchase.
    let a: Vec<Row> = vec![
        (1, 21, 5.0, 9, "web", 1, 0.0),
        (1, 21, 3.0, 8, "web", 1, 0.0),
        (1, 22, -1.0, 7, "web", 1, 0.0),
    ];
    let b: Vec<Row> = vec![
        (1, 21, 2.0, 8, "web", 1, 0.0),
        (1, 20, 5.0, 9, "web", 1, 0.0),
    ];
    for parts in [[&a, &b], [&b, &a]] {
        let merged = CustomerDays::merge(parts.map(|p| rich_state(p)).into()).unwrap();
        let state = merged.into_history(Purchase::Positive).unwrap();
        let web = "web/1".to_string();
        assert_eq!(
            labelled(&state),
            vec![vec![
                (20, web.clone(), 1, 1, 5.0),
                (21, web.clone(), 3, 1, 10.0),
                (22, web, 0, 0, -1.0)
            ]]
        );
    }
}

#[test]
fn groups_with_equal_values_in_two_parts_merge_into_one() {
    let a: Vec<Row> = vec![
        (1, 20, 5.0, 1, "web", 2, 1.0),
        (1, 20, 4.0, 2, "shop", 2, 0.0),
    ];
    let b: Vec<Row> = vec![
        (1, 20, 3.0, 3, "web", 2, 2.5),
        (2, 20, 1.0, 4, "app", 7, 0.0),
    ];
    let merged = CustomerDays::merge(vec![rich_state(&a), rich_state(&b)]).unwrap();
    let state = merged.into_history(Purchase::Positive).unwrap();
    assert_eq!(
        labelled(&state),
        vec![
            vec![
                (20, "shop/2".into(), 1, 1, 4.0),
                (20, "web/2".into(), 2, 2, 8.0)
            ],
            vec![(20, "app/7".into(), 1, 1, 1.0)],
        ]
    );
    assert_eq!(
        state.extra_sums(|_| true),
        vec![("visits".to_string(), vec![3.5, 0.0])]
    );
}

#[test]
fn merged_groups_orders_and_extra_sums_of_a_random_split_equal_the_whole_logs() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for _ in 0..10 {
        let rows = random_rich_log(&mut rng);
        let (left, rest): (Vec<Row>, Vec<Row>) = rows.iter().partition(|_| rng.random_bool(0.4));
        let (middle, right): (Vec<Row>, Vec<Row>) = rest.iter().partition(|_| rng.random_bool(0.5));
        let merged = CustomerDays::merge(vec![
            rich_state(&right),
            rich_state(&[]),
            CustomerDays::merge(vec![rich_state(&left), rich_state(&middle)]).unwrap(),
        ])
        .unwrap();
        let batch = merged.to_batch().unwrap();
        let merged = CustomerDays::from_batches(&batch.schema(), &[batch]).unwrap();
        let state = merged.into_history(Purchase::Positive).unwrap();
        let tx = rich_transactions(&rows);
        let whole = history::build(&tx);
        let codes = whole.codes();
        let keys = tx.customers.keys(&codes).unwrap();
        assert_eq!(ints(&keys), ints(&state.keys));
        assert_eq!(whole.days, state.history.days);
        assert_eq!(days(&whole), days(&state.history));
        let groups = whole.groups();
        let (a, b) = (
            tx.groups.as_ref().unwrap().labels(&groups).unwrap(),
            state
                .groups
                .as_ref()
                .unwrap()
                .labels(&state.history.groups())
                .unwrap(),
        );
        assert_eq!(a, b);
        let sums = history::column_sums(&tx, &tx.extras[0], &codes);
        let merged_sums = &state.extra_sums(|_| true)[0].1;
        assert!(sums
            .iter()
            .zip(merged_sums)
            .all(|(a, b)| (a - b).abs() <= 1e-9 * a.abs().max(1.0)));
        for period in [None, Some(Period::Month)] {
            let (a, b) = (
                repurchase::repurchase(&tx, period),
                repurchase::of_history(&state.history, period, true),
            );
            assert_eq!(
                (a.groups, a.starts, a.windows),
                (b.groups, b.starts, b.windows)
            );
        }
    }
}

#[test]
fn states_of_different_layouts_do_not_merge_and_functions_refuse_what_they_do_not_read() {
    let rich = rich_state(&[(1, 20, 5.0, 1, "web", 2, 1.0)]);
    let err = CustomerDays::merge(vec![rich, state(&[(1, 20, 5.0)])])
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("different by, order, extra or purchase sum"),
        "{err}"
    );
    let rich = rich_state(&[(1, 20, 5.0, 1, "web", 2, 1.0)]);
    let err = rich.check_reads("summary", Reads::default()).err().unwrap();
    assert!(
        err.to_string().contains("by groups, which summary"),
        "{err}"
    );
    let all = Reads {
        groups: true,
        orders: true,
        extras: true,
        purchase_sums: true,
    };
    assert!(rich.check_reads("x", all).is_ok());
    let err = rich.into_history(Purchase::NonNegative).err().unwrap();
    assert!(err.to_string().contains("positive amount"), "{err}");
}

#[test]
fn a_part_whose_entries_are_not_sorted_is_refused() {
    let mut unsorted = state(&[(1, 20, 5.0), (1, 21, 2.0), (2, 20, 1.0)]);
    let mut swapped: Vec<DayTotals> = unsorted.entries.iter().collect();
    swapped.swap(0, 1);
    unsorted.entries = swapped.into_iter().collect();
    let err = CustomerDays::merge(vec![state(&[(1, 20, 1.0)]), unsorted])
        .err()
        .unwrap();
    assert!(err.to_string().contains("not sorted"), "{err}");
}

#[test]
fn a_customer_states_table_is_refused_as_customer_days() {
    let mut other = state(&[(1, 18_000, 5.0)])
        .to_batch()
        .unwrap()
        .schema()
        .as_ref()
        .clone();
    other
        .metadata
        .insert(crate::partial::KIND_KEY.into(), crate::partial::KIND.into());
    let err = CustomerDays::from_batches(&Arc::new(other), &[])
        .err()
        .unwrap();
    assert!(err.to_string().contains("kind 'customer_states'"), "{err}");
}
