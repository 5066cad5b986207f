use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

const TRACE: &str = "\
0.000000 manager-1 started
0.002016 manager-1 role Leader term=1 leader=Some(1)
0.000001 worker-1 started
1.001562 worker-1 web 31bhvapw8nm3hfpcytrex2lf4 started (nginx:1.25)
1.001600 worker-1 web l6qofoxe941zllt8axwb00ul5 started (nginx:1.25)
1.014103 runner expectation met: step 2 (line 14) after 0.040s
2.000000 net partition manager-1 | worker-1
3.000000 net heal
4.000000 worker-1 web 31bhvapw8nm3hfpcytrex2lf4 stopped
5.000000 manager-1 crash unsynced_bytes_lost=0
6.000000 manager-1 restart
6.000000 manager-1 locked (autolock): waiting for `swarm unlock`
7.000000 manager-1 unlocked
7.000000 manager-1 started
8.000000 worker-1 web 0000000000000000000000000 stopped
";

#[test]
fn the_trace_becomes_rows_bands_and_marks() {
    let tl = timeline(&lines(TRACE), 10.0);
    assert_eq!(tl.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["manager-1", "worker-1"]);
    let m = &tl.rows[0];
    assert_eq!(m.states, vec![(0.0, 5.0, State::Up), (5.0, 6.0, State::Down), (6.0, 7.0, State::Locked), (7.0, 10.0, State::Up)]);
    assert_eq!(m.leader, vec![(0.002016, 5.0)], "a crash ends leadership");
    assert!(m.events.iter().any(|(t, e)| *t == 6.0 && e == "restart"));
    let w = &tl.rows[1];
    // Two started, one stopped; a stop of a container never seen started changes nothing.
    assert_eq!(w.tasks, vec![(1.001562, 1), (1.0016, 2), (4.0, 1)]);
    assert_eq!(tl.net, vec![(2.0, 3.0, "partition manager-1 | worker-1".to_string())]);
    assert_eq!(tl.met, vec![(1.014103, "step 2 (line 14) after 0.040s".to_string())]);
}

#[test]
fn the_page_is_self_contained_and_marks_the_violation() {
    let tl = timeline(&lines(TRACE), 10.0);
    let outcome = Outcome {
        title: "scenario=x seed=3".into(),
        passed: false,
        violation: Some((8.5, "placement".into(), "task <b> on a down node".into())),
        replay: "scripts/sim run x.toml --seed 3".into(),
    };
    let page = render(&tl, &outcome);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script src") && !page.contains("<link"), "no outside resources");
    assert!(page.contains("id=\"violation\"") && page.contains("scripts/sim run x.toml --seed 3"));
    assert!(page.contains("task &lt;b&gt; on a down node"), "text is escaped");
    assert_eq!(page.matches("class=\"row\"").count(), 2);
    let passed = render(&tl, &Outcome { passed: true, ..Default::default() });
    assert!(!passed.contains("id=\"violation\""));
}
