use super::*;
use crate::model::{Annotations, Config, ConfigSpec, Meta, Object, Service};
use proptest::prelude::*;

fn config(id: &str, name: &str, data: &[u8]) -> Object {
    Object::Config(Config {
        id: id.into(),
        meta: Meta::default(),
        spec: ConfigSpec { annotations: Annotations { name: name.into(), ..Default::default() }, data: data.to_vec() },
    })
}

fn txn(actions: Vec<Action>) -> Transaction {
    Transaction { timestamp_ms: 1_000, actions }
}

#[test]
fn create_sets_version_to_raft_index_and_emits_event() {
    let mut s = Store::new();
    let ev = s.apply(7, &txn(vec![Action::Create(config("c1", "one", b"x"))])).unwrap();
    assert_eq!(ev.len(), 1);
    let o = s.get(Kind::Config, "c1").unwrap();
    assert_eq!(o.meta().version, 7);
    assert_eq!(o.meta().created_at_ms, 1_000);
    assert!(matches!(&ev[0], Event::Created(c) if c == o));
}

#[test]
fn update_with_stale_version_is_rejected_and_changes_nothing() {
    // Optimistic concurrency: swarmkit's store refuses an update whose version is out of
    // sequence ("update out of sequence").
    let mut s = Store::new();
    s.apply(1, &txn(vec![Action::Create(config("c1", "one", b"x"))])).unwrap();
    let before = s.clone();
    let err = s
        .apply(
            2,
            &txn(vec![
                Action::Create(config("c2", "two", b"y")),
                Action::Update { object: config("c1", "one", b"z"), expected_version: 99 },
            ]),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { action: 1, .. }), "{err}");
    assert_eq!(s.get(Kind::Config, "c2"), None, "the whole transaction is rolled back");
    assert_eq!(s.state_hash(), before.state_hash());
    s.apply(3, &txn(vec![Action::Update { object: config("c1", "one", b"z"), expected_version: 1 }])).unwrap();
    assert_eq!(s.get(Kind::Config, "c1").unwrap().meta().version, 3);
}

#[test]
fn duplicate_names_are_refused_within_and_across_transactions() {
    let mut s = Store::new();
    s.apply(1, &txn(vec![Action::Create(config("c1", "web", b""))])).unwrap();
    let e = s.apply(2, &txn(vec![Action::Create(config("c2", "web", b""))])).unwrap_err();
    assert!(e.to_string().contains("conflicts"), "{e}");
    let e = s
        .apply(3, &txn(vec![Action::Create(config("c3", "api", b"")), Action::Create(config("c4", "api", b""))]))
        .unwrap_err();
    assert!(matches!(e, StoreError::Rejected { action: 1, .. }), "{e}");
    // Deleting the holder of a name and reusing it in one transaction is fine.
    s.apply(
        4,
        &txn(vec![
            Action::Delete { kind: Kind::Config, id: "c1".into(), expected_version: Some(1) },
            Action::Create(config("c5", "web", b"")),
        ]),
    )
    .unwrap();
    assert!(s.find_by_name(Kind::Config, "web").is_some_and(|o| o.id() == "c5"));
}

#[test]
fn invalid_transactions_are_refused() {
    let mut s = Store::new();
    assert_eq!(s.apply(1, &txn(vec![])), Err(StoreError::Empty));
    let many: Vec<Action> = (0..201).map(|i| Action::Create(config(&format!("c{i}"), &format!("n{i}"), b""))).collect();
    assert_eq!(s.apply(2, &txn(many.clone())), Err(StoreError::TooLarge(201)));
    assert!(matches!(s.apply(3, &txn(vec![Action::Create(config("", "x", b""))])), Err(StoreError::Invalid { .. })));
    assert!(s.is_empty());
    // batches() splits at 200 and each part applies.
    let parts = batches(5, many);
    assert_eq!(parts.iter().map(|t| t.actions.len()).collect::<Vec<_>>(), vec![200, 1]);
    for (i, t) in parts.iter().enumerate() {
        s.apply(10 + i as u64, t).unwrap();
    }
    assert_eq!(s.len(), 201);
}

#[test]
fn list_returns_only_one_kind_in_id_order() {
    let mut s = Store::new();
    let svc = Object::Service(Service {
        id: "s1".into(),
        spec: crate::model::ServiceSpec {
            annotations: Annotations { name: "web".into(), ..Default::default() },
            ..Default::default()
        },
        ..Default::default()
    });
    s.apply(1, &txn(vec![Action::Create(config("b", "b", b"")), Action::Create(svc), Action::Create(config("a", "a", b""))]))
        .unwrap();
    let ids: Vec<&str> = s.list(Kind::Config).map(|o| o.id()).collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(s.list(Kind::Service).count(), 1);
    assert_eq!(s.list(Kind::Task).count(), 0);
}

fn arb_action() -> impl Strategy<Value = Action> {
    let id = prop::sample::select(vec!["a", "b", "c", "d"]);
    let name = prop::sample::select(vec!["x", "y", "z"]);
    prop_oneof![
        (id.clone(), name.clone(), any::<u8>()).prop_map(|(i, n, d)| Action::Create(config(i, n, &[d]))),
        (id.clone(), name, any::<u8>(), 0u64..6)
            .prop_map(|(i, n, d, v)| Action::Update { object: config(i, n, &[d]), expected_version: v }),
        (id, prop::option::of(0u64..6)).prop_map(|(i, v)| Action::Delete {
            kind: Kind::Config,
            id: i.into(),
            expected_version: v
        }),
    ]
}

fn arb_txns() -> impl Strategy<Value = Vec<Transaction>> {
    prop::collection::vec(
        (0u64..10_000, prop::collection::vec(arb_action(), 0..5)).prop_map(|(ts, actions)| Transaction { timestamp_ms: ts, actions }),
        1..30,
    )
}

proptest! {
    /// Apply is deterministic: two replicas fed the same entries end byte-identical.
    #[test]
    fn apply_is_deterministic(txns in arb_txns()) {
        let (mut a, mut b) = (Store::new(), Store::new());
        for (i, t) in txns.iter().enumerate() {
            let ra = a.apply(i as u64 + 1, t);
            let rb = b.apply(i as u64 + 1, t);
            prop_assert_eq!(ra, rb);
        }
        prop_assert_eq!(a.snapshot(), b.snapshot());
        prop_assert_eq!(a.state_hash(), b.state_hash());
    }

    /// snapshot → restore gives the same content and the same hash.
    #[test]
    fn snapshot_restore_round_trips(txns in arb_txns()) {
        let mut a = Store::new();
        for (i, t) in txns.iter().enumerate() {
            let _ = a.apply(i as u64 + 1, t);
        }
        let b = Store::restore(&a.snapshot()).unwrap();
        prop_assert_eq!(b.state_hash(), a.state_hash());
        prop_assert_eq!(&b, &a);
    }

    /// A failed transaction changes nothing (but the index, which records the entry as consumed).
    #[test]
    fn failed_transaction_changes_nothing(txns in arb_txns()) {
        let mut a = Store::new();
        for (i, t) in txns.iter().enumerate() {
            let before = a.snapshot();
            let hash = a.state_hash();
            if a.apply(i as u64 + 1, t).is_err() {
                let after = Store::restore(&a.snapshot()).unwrap();
                let before = Store::restore(&before).unwrap();
                prop_assert_eq!(after.objects, before.objects);
                prop_assert_eq!(a.state_hash(), hash);
            }
        }
    }
}

proptest! {
    /// An overlay lists a kind as the committed objects with the pass's writes and deletes laid
    /// over them, in id order (the merge walk against a plain map).
    #[test]
    fn overlay_lists_committed_objects_under_the_pass_changes(
        committed in proptest::collection::btree_set(0u8..40, 0..20),
        changes in proptest::collection::vec((0u8..40, any::<bool>()), 0..20),
    ) {
        let mut s = Store::new();
        let creates: Vec<Action> = committed.iter().map(|i| Action::Create(config(&format!("c{i:02}"), &format!("n{i}"), b"old"))).collect();
        if !creates.is_empty() {
            s.apply(1, &txn(creates)).unwrap();
        }
        let mut o = Overlay::new(&s);
        let mut want: BTreeMap<String, Vec<u8>> = committed.iter().map(|i| (format!("c{i:02}"), b"old".to_vec())).collect();
        for (i, put) in &changes {
            let id = format!("c{i:02}");
            if *put {
                o.put(config(&id, &format!("n{i}"), b"new"));
                want.insert(id, b"new".to_vec());
            } else {
                o.delete(Kind::Config, &id);
                want.remove(&id);
            }
        }
        let got: Vec<(String, Vec<u8>)> = o
            .list(Kind::Config)
            .into_iter()
            .map(|x| match x {
                Object::Config(c) => (c.id.clone(), c.spec.data.clone()),
                _ => unreachable!(),
            })
            .collect();
        prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    }
}
