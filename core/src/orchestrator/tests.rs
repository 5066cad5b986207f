use super::*;

#[test]
fn ids_look_like_swarms_and_are_unique_per_seed() {
    let mut a = IdGen::new(1);
    let x = a.next_id();
    assert_eq!(x.len(), 25);
    assert!(x.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_ne!(x, a.next_id());
    assert_eq!(IdGen::new(1).next_id(), x);
    assert_ne!(IdGen::new(2).next_id(), x);
}
