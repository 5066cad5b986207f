use super::*;
use crate::node::raft::{seed_disk, LogStore, MemDisk, NoObserver, StateMachine};
use std::collections::BTreeMap;

fn fresh() -> (Arc<MemDisk>, EncryptedDisk) {
    let raw = Arc::new(MemDisk::default());
    let e = EncryptedDisk::open(raw.clone(), [1; 32]).unwrap();
    (raw, e)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What is written reads back in order; nothing of it reaches the disk below in plaintext.
#[test]
fn reads_back_what_was_written_and_the_disk_holds_no_plaintext() {
    let (raw, e) = fresh();
    e.append("raft.log", b"first record").unwrap();
    e.append("raft.log", b"second record").unwrap();
    e.replace("vote", b"term 3").unwrap();
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"first recordsecond record");
    assert_eq!(e.read("vote").unwrap().unwrap(), b"term 3");
    assert_eq!(e.read("snapshot").unwrap(), None);
    for f in ["raft.log", "vote"] {
        let bytes = raw.read(f).unwrap().unwrap();
        assert!(!contains(&bytes, b"record") && !contains(&bytes, b"term"), "{f} holds plaintext");
    }
    // A restart (fresh entropy) reads with the same key; another node's key reads nothing.
    let again = EncryptedDisk::open(raw.clone(), [2; 32]).unwrap();
    assert_eq!(again.read("raft.log").unwrap().unwrap(), b"first recordsecond record");
    let other_raw = Arc::new(MemDisk::default());
    let other = EncryptedDisk::open(other_raw.clone(), [3; 32]).unwrap();
    other_raw.replace("vote", &raw.read("vote").unwrap().unwrap()).unwrap();
    other_raw.append("raft.log", &raw.read("raft.log").unwrap().unwrap()).unwrap();
    assert!(other.read("raft.log").is_err(), "another key must not open the log");
    // A frame moved to another file does not open there either, and is refused, not dropped.
    let moved = raw.read("vote").unwrap().unwrap();
    raw.replace("snapshot", &moved).unwrap();
    assert!(e.read("snapshot").unwrap_err().to_string().contains("does not decrypt"));
    assert_eq!(raw.read("snapshot").unwrap().unwrap(), moved, "a replaced file is never repaired away");
}

/// A replaced file's damaged frame is corruption, never a torn write: refused, and left as
/// it is on the disk.
#[test]
fn a_damaged_replaced_file_is_refused_and_kept() {
    let (raw, e) = fresh();
    e.replace("vote", b"term 9").unwrap();
    let mut bytes = raw.read("vote").unwrap().unwrap();
    let at = frame_spans(&bytes)[0].start + 15;
    bytes[at] ^= 0x01;
    raw.replace("vote", &bytes).unwrap();
    assert!(e.read("vote").is_err());
    assert_eq!(raw.read("vote").unwrap().unwrap(), bytes);
}

/// Encrypted files without their data key: the node refuses to start instead of making a
/// new key that could never open them.
#[test]
fn a_missing_data_key_beside_encrypted_files_is_refused() {
    let (raw, e) = fresh();
    e.append("raft.log", b"entries").unwrap();
    let files = MemDisk::default();
    files.append("raft.log", &raw.read("raft.log").unwrap().unwrap()).unwrap();
    let err = EncryptedDisk::open(Arc::new(files), [8; 32]).err().expect("refused");
    assert!(err.to_string().contains("the data key raft.dek is missing"), "{err}");
}

/// A write larger than one frame holds becomes several frames, and reads back whole.
#[test]
fn a_large_write_spans_several_frames() {
    let (raw, e) = fresh();
    let big: Vec<u8> = (0..FRAME_PLAINTEXT_MAX + 1000).map(|i| (i % 251) as u8).collect();
    e.replace("snapshot", &big).unwrap();
    assert_eq!(frame_spans(&raw.read("snapshot").unwrap().unwrap()).len(), 2);
    assert!(e.read("snapshot").unwrap().unwrap() == big);
}

/// A torn last frame is dropped (and the file rewritten without it, so appends go on); a bit
/// flipped in a frame followed by more is corruption.
#[test]
fn a_torn_tail_is_dropped_and_mid_file_corruption_refused() {
    let (raw, e) = fresh();
    e.append("raft.log", b"a").unwrap();
    e.append("raft.log", b"b").unwrap();
    let whole = raw.read("raft.log").unwrap().unwrap();
    raw.replace("raft.log", &whole[..whole.len() - 5]).unwrap();
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"a");
    e.append("raft.log", b"c").unwrap();
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"ac");
    let mut bytes = raw.read("raft.log").unwrap().unwrap();
    let spans = frame_spans(&bytes);
    assert_eq!(spans.len(), 2);
    bytes[spans[0].start + 13] ^= 0x10;
    raw.replace("raft.log", &bytes).unwrap();
    let err = e.read("raft.log").unwrap_err();
    assert!(err.to_string().contains("does not decrypt"), "{err}");
}

/// A data directory from before encryption: its plaintext files are read once and rewritten
/// encrypted.
#[test]
fn plaintext_files_migrate_on_first_read() {
    let raw = Arc::new(MemDisk::default());
    raw.append("raft.log", b"old plaintext").unwrap();
    let e = EncryptedDisk::open(raw.clone(), [4; 32]).unwrap();
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"old plaintext");
    assert!(!contains(&raw.read("raft.log").unwrap().unwrap(), b"plaintext"));
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"old plaintext");
}

/// The raft storage on an encrypted disk: a store seeded with a secret opens as that store,
/// and the secret's data is nowhere on the disk below.
#[test]
fn raft_storage_runs_on_it_and_secrets_stay_encrypted() {
    use crate::model::{Object, Secret, SecretSpec};
    let secret = Secret { id: "s1".into(), spec: SecretSpec { data: b"hunter2-very-secret".to_vec(), ..Default::default() }, ..Default::default() };
    let store = crate::store::Store::from_objects(12, vec![Object::Secret(secret)]).unwrap();
    let raw = Arc::new(MemDisk::default());
    let disk: Arc<dyn Disk> = Arc::new(EncryptedDisk::open(raw.clone(), [5; 32]).unwrap());
    seed_disk(disk.as_ref(), &store, &BTreeMap::from([(1, "a:1".to_string())])).unwrap();
    let sm = StateMachine::open(1, disk.clone(), Arc::new(NoObserver)).unwrap();
    assert_eq!(sm.shared().applied(), (12, store.state_hash()));
    assert_eq!(LogStore::open(disk).unwrap().last_log_id().map(|l| l.index), Some(12));
    // No piece of what the files hold (the store with the secret in it) is on the disk below.
    let e = EncryptedDisk::open(raw.clone(), [6; 32]).unwrap();
    for f in ["snapshot", "raft.log"] {
        let plain = e.read(f).unwrap().unwrap();
        let below = raw.read(f).unwrap().unwrap();
        assert!(plain.len() > 32, "{f}: {} bytes", plain.len());
        assert!(plain.chunks(16).filter(|c| c.len() == 16).all(|c| !contains(&below, c)), "{f} holds plaintext");
    }
    // The same seeding on a plain disk holds it all (what the check above would catch).
    let plain_disk = MemDisk::default();
    seed_disk(&plain_disk, &store, &BTreeMap::from([(1, "a:1".to_string())])).unwrap();
    let snapshot = plain_disk.read("snapshot").unwrap().unwrap();
    assert!(contains(&snapshot, &e.read("snapshot").unwrap().unwrap()[..16]));
}

/// Autolock: a wrapped data key opens only with its unlock key; a rotation re-wraps it, after
/// which the previous key no longer opens it; turning autolock off stores it plain again.
#[test]
fn autolock_wraps_the_data_key_and_rotation_retires_the_old_key() {
    use crate::ca::unlock_key::UnlockKey;
    let (k1, k2) = (UnlockKey::from_bytes([1; 32]), UnlockKey::from_bytes([2; 32]));
    let (raw, e) = fresh();
    e.append("raft.log", b"entries").unwrap();
    let plain_dek = raw.read(DEK_FILE).unwrap().unwrap();
    assert!(!dek_is_wrapped(&plain_dek));
    e.set_unlock_key(Some(&k1), 10).unwrap();
    let wrapped = raw.read(DEK_FILE).unwrap().unwrap();
    assert!(dek_is_wrapped(&wrapped));
    assert!(!contains(&wrapped, &unseal(DEK_FILE, &plain_dek).unwrap()[..16]), "the wrapped file holds the data key in plaintext");
    // Restarted: locked without a key, refused with another, open with its own.
    assert!(matches!(EncryptedDisk::open_with(raw.clone(), [2; 32], None), Err(OpenError::Locked)));
    assert!(matches!(EncryptedDisk::open_with(raw.clone(), [2; 32], Some(&k2)), Err(OpenError::WrongKey)));
    let again = EncryptedDisk::open_with(raw.clone(), [2; 32], Some(&k1)).unwrap();
    assert_eq!(again.read("raft.log").unwrap().unwrap(), b"entries");
    assert_eq!(again.wrapped_with(), Some(k1.clone()));
    // Locked is what a plain `open` says too, never a new key made over the old one.
    let err = EncryptedDisk::open(raw.clone(), [3; 32]).err().expect("locked");
    assert!(err.to_string().contains("this manager is locked"), "{err}");
    assert_eq!(raw.read(DEK_FILE).unwrap().unwrap(), wrapped, "a refused open leaves the key as it was");
    // Rotation: the same key for the data, wrapped under the new unlock key only.
    again.set_unlock_key(Some(&k2), 20).unwrap();
    // An older change (a log replayed after a restart) never wraps it back under k1.
    again.set_unlock_key(Some(&k1), 10).unwrap();
    assert!(matches!(EncryptedDisk::open_with(raw.clone(), [4; 32], Some(&k1)), Err(OpenError::WrongKey)));
    let rotated = EncryptedDisk::open_with(raw.clone(), [4; 32], Some(&k2)).unwrap();
    assert_eq!(rotated.read("raft.log").unwrap().unwrap(), b"entries");
    // The same key again writes nothing; autolock off stores the key plain.
    let before = raw.read(DEK_FILE).unwrap().unwrap();
    rotated.set_unlock_key(Some(&k2), 20).unwrap();
    assert_eq!(raw.read(DEK_FILE).unwrap().unwrap(), before);
    rotated.set_unlock_key(None, 30).unwrap();
    assert!(!dek_is_wrapped(&raw.read(DEK_FILE).unwrap().unwrap()));
    assert_eq!(EncryptedDisk::open(raw.clone(), [5; 32]).unwrap().read("raft.log").unwrap().unwrap(), b"entries");
}

/// The state machine hands every change of the swarm's unlock key to the disk as it applies.
#[test]
fn the_state_machine_rewraps_when_the_applied_unlock_key_changes() {
    use crate::ca::unlock_key::UnlockKey;
    use crate::model::{Cluster, Object};
    let key = UnlockKey::from_bytes([9; 32]);
    let mut cluster = Cluster { id: crate::leader::CLUSTER_ID.into(), unlock_key: crate::model::UnlockKeyText(key.to_string()), ..Default::default() };
    cluster.spec.encryption.auto_lock_managers = true;
    let store = crate::store::Store::from_objects(3, vec![Object::Cluster(cluster)]).unwrap();
    let raw = Arc::new(MemDisk::default());
    let disk: Arc<dyn Disk> = Arc::new(EncryptedDisk::open(raw.clone(), [5; 32]).unwrap());
    let mut sm = StateMachine::open(1, disk, Arc::new(NoObserver)).unwrap();
    sm.follow_unlock_key(&store);
    assert!(dek_is_wrapped(&raw.read(DEK_FILE).unwrap().unwrap()));
    assert!(EncryptedDisk::open_with(raw.clone(), [6; 32], Some(&key)).is_ok());
}

proptest::proptest! {
    /// Whatever a data-key file holds (damaged, truncated, a wrapped key cut short), opening it
    /// with or without an unlock key is an answer, never a panic.
    #[test]
    fn any_data_key_file_opens_or_is_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..90), wrapped in proptest::prelude::any::<bool>()) {
        use crate::ca::unlock_key::UnlockKey;
        let raw = Arc::new(MemDisk::default());
        let content = if wrapped { [&MAGIC_WRAPPED[..], &bytes].concat() } else { bytes };
        let content = if wrapped && content.len() > WRAPPED_BYTES { content[..WRAPPED_BYTES].to_vec() } else { content };
        raw.replace(DEK_FILE, &seal(&content)).unwrap();
        let _ = EncryptedDisk::open_with(raw.clone(), [1; 32], None);
        let _ = EncryptedDisk::open_with(raw, [1; 32], Some(&UnlockKey::from_bytes([2; 32])));
    }
}

/// Autolock turned on makes a new data key (as swarm does): a plain copy of `raft.dek` from
/// before opens nothing written after, and what was written before reads back.
#[test]
fn autolock_on_moves_the_files_to_a_new_data_key() {
    use crate::ca::unlock_key::UnlockKey;
    let k1 = UnlockKey::from_bytes([1; 32]);
    let (raw, e) = fresh();
    e.append("raft.log", b"entries").unwrap();
    e.replace("vote", b"v1").unwrap();
    let plain_copy = raw.read(DEK_FILE).unwrap().unwrap();
    e.set_unlock_key(Some(&k1), 10).unwrap();
    assert!(dek_is_wrapped(&raw.read(DEK_FILE).unwrap().unwrap()));
    assert_eq!(unseal(DEK_FILE, &raw.read(DEK_FILE).unwrap().unwrap()).unwrap().len(), WRAPPED_BYTES, "the change finished");
    e.append("raft.log", b" more").unwrap();
    assert_eq!(e.read("raft.log").unwrap().unwrap(), b"entries more");
    let again = EncryptedDisk::open_with(raw.clone(), [2; 32], Some(&k1)).unwrap();
    assert_eq!(again.read("raft.log").unwrap().unwrap(), b"entries more");
    assert_eq!(again.read("vote").unwrap().unwrap(), b"v1");
    // The old plain key opens none of it any more.
    let stolen = Arc::new(MemDisk::default());
    stolen.replace(DEK_FILE, &plain_copy).unwrap();
    for f in ["raft.log", "vote"] {
        stolen.replace(f, &raw.read(f).unwrap().unwrap()).unwrap();
    }
    let with_old = EncryptedDisk::open(stolen, [3; 32]).unwrap();
    assert!(with_old.read("vote").is_err(), "a copy of the data key from before autolock still opens the vote");
    // A rotation of the unlock key keeps the data key (only its wrapping changes).
    let k2 = UnlockKey::from_bytes([2; 32]);
    again.set_unlock_key(Some(&k2), 20).unwrap();
    assert_eq!(EncryptedDisk::open_with(raw.clone(), [4; 32], Some(&k2)).unwrap().read("vote").unwrap().unwrap(), b"v1");
}

/// A change of data key a crash cut short (both keys in the file, one file moved, one not)
/// is finished at the next open, and every file reads back.
#[test]
fn a_change_of_data_key_cut_short_is_finished_at_open() {
    use crate::ca::unlock_key::UnlockKey;
    let k1 = UnlockKey::from_bytes([1; 32]);
    let (raw, e) = fresh();
    e.append("raft.log", b"old-key entries").unwrap();
    let old = e.keys.read().unwrap().dek;
    let new = [7u8; DEK_BYTES];
    raw.replace(DEK_FILE, &dek_file(&new, Some(&old), Some(&k1), 10, [5; NONCE_LEN])).unwrap();
    // The vote was moved to the new key before the crash; the log was not.
    let moved = EncryptedDisk { inner: raw.clone(), keys: std::sync::RwLock::new(Keys { dek: new, key: aead(&new).unwrap(), old: None }), nonces: Mutex::new(ChaCha20Rng::from_seed([9; 32])), wrapped_with: Mutex::new((None, 0)) };
    moved.replace("vote", b"v1").unwrap();
    assert!(matches!(EncryptedDisk::open_with(raw.clone(), [2; 32], None), Err(OpenError::Locked)));
    let opened = EncryptedDisk::open_with(raw.clone(), [2; 32], Some(&k1)).unwrap();
    assert_eq!(opened.read("raft.log").unwrap().unwrap(), b"old-key entries");
    assert_eq!(opened.read("vote").unwrap().unwrap(), b"v1");
    assert_eq!(unseal(DEK_FILE, &raw.read(DEK_FILE).unwrap().unwrap()).unwrap().len(), WRAPPED_BYTES, "finished: the new key alone");
    assert_eq!(opened.keys.read().unwrap().dek, new);
}
