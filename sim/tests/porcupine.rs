//! The linearizability checker against a corpus no one here wrote: Porcupine's test histories
//! (Jepsen etcd register runs and key-value histories, MIT licence, copied unchanged from
//! ../shared/testdata/porcupine into tests/data/porcupine so a clean clone has them). Every
//! verdict in EXPECTED.txt (Porcupine's and Knossos's) must be matched.
#![cfg(madsim)]

use shoal_sim::history::{check_file, Verdict};

#[test]
fn every_porcupine_verdict_is_matched() {
    let dir = format!("{}/tests/data/porcupine", env!("CARGO_MANIFEST_DIR"));
    let expected = std::fs::read_to_string(format!("{dir}/EXPECTED.txt")).expect("EXPECTED.txt is in the repo");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let (file, want) = line.split_once(' ').expect("`path verdict` lines");
        let r = check_file(&format!("{dir}/{file}"), None).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = match r.verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable(_) => "not-linearizable",
        };
        if got != want.trim() {
            wrong.push(format!("{file}: expected {want}, got {got}"));
        }
        checked += 1;
    }
    assert!(checked >= 108, "the corpus has 102 etcd and 6 key-value histories, found {checked}");
    assert!(wrong.is_empty(), "{} of {checked} verdicts differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn a_malformed_history_names_its_line() {
    let dir = std::env::temp_dir().join(format!("shoal-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.log");
    std::fs::write(&f, "INFO  jepsen.util - 0\t:invoke\t:write\t4\nINFO  jepsen.util - 0\t:ok\t:write\tfour\n").unwrap();
    let e = check_file(f.to_str().unwrap(), None).unwrap_err();
    assert!(e.contains(":line 2:") && e.contains("not an integer"), "{e}");
    std::fs::write(&f, "{:process 0, :type :ok, :f :get, :key \"1\", :value \"\"}\n").unwrap();
    let e = check_file(f.to_str().unwrap(), None).unwrap_err();
    assert!(e.contains("line 1") && e.contains("never invoked"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
