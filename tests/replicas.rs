//! Replicas, end to end (issue 11): the real binary (`reviewgate serve`) as child processes
//! behind one fake GitHub in this process. Two replicas share one fresh PostgreSQL schema from
//! `REVIEWGATE_TEST_DATABASE_URL` (without it those tests print that they were skipped, and
//! pass); one replica on a SQLite file is killed and restarted on it. Each PR's right check is
//! known before anything is delivered, so every test asserts the final verdicts, not only that
//! something was written. How the replicas are told apart is in `replicas_support`.

mod replicas_support;
mod store_support;
mod support;

use std::time::{Duration, Instant};

use replicas_support::*;
use reviewgate::store::Store;
use support::harness::{CHECK, REPO, fake_world};

/// (a) 500 PRs, each `opened` at A and, milliseconds later, its approval at B: every PR ends
/// with its right check and one run, no PR is ever evaluated by both replicas at once (see
/// `windows`), and nothing is left pending. About 10 s in a debug build on 2 cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_burst_and_never_evaluate_one_pr_at_once() {
    let count = 500;
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let cases = open_burst(&fake, count);
    let Some(pair) = Pair::start(&fake, &[]).await else {
        return;
    };
    let started = Instant::now();
    let statuses = burst(
        &fake,
        &cases,
        &[Hook::to(&pair.a)],
        &[Hook::to(&pair.b)],
        Duration::from_millis(3),
        64,
    )
    .await
    .await
    .expect("burst");
    let delivered = started.elapsed();
    for (c, s) in cases.iter().zip(&statuses) {
        assert_eq!(*s, (202, 202), "#{}: both deliveries accepted", c.n);
    }
    wait_for("every PR's right check", Duration::from_secs(120), || {
        wrong(&fake, &cases).is_empty()
    })
    .await;
    let checked = started.elapsed();
    drained(&pair.store, Duration::from_secs(30)).await;
    let wrong_now: Vec<_> = wrong(&fake, &cases).iter().map(|c| c.n).collect();
    assert!(
        wrong_now.is_empty(),
        "changed after settling: {wrong_now:?}"
    );
    let verdicts = verdicts(&fake);
    for c in &cases {
        assert_eq!(verdicts[&c.head].1, 1, "#{}: one run on its head", c.n);
    }

    // No PR was ever evaluated by both replicas at once (nor twice at once by one).
    let requests = fake.requests();
    let windows = windows(&fake, &cases, &requests);
    let clashes = overlaps(&windows);
    assert!(clashes.is_empty(), "{}", clashes.join("\n"));
    let by = |door: &str| {
        windows
            .values()
            .filter(|ws| ws.iter().any(|w| w.door == door))
            .count()
    };
    let (by_a, by_b) = (by(&pair.door_a), by(&pair.door_b));
    let by_both = windows
        .values()
        .filter(|ws| ws.iter().any(|w| w.door == pair.door_a))
        .filter(|ws| ws.iter().any(|w| w.door == pair.door_b))
        .count();
    assert!(
        by_a > 0 && by_b > 0,
        "both replicas evaluated: A {by_a}, B {by_b}"
    );
    let evaluations = |m: &str| metric_sum(m, "reviewgate_evaluations_total");
    let (ma, mb) = tokio::join!(pair.a.metrics(), pair.b.metrics());
    println!(
        "{count} PRs, 2 replicas on PostgreSQL: deliveries answered in {delivered:?}, every \
         right check by {checked:?}; evaluations A {} B {}; PRs evaluated by A {by_a}, by B \
         {by_b}, by both (one after the other) {by_both}; {} requests to GitHub",
        evaluations(&ma),
        evaluations(&mb),
        requests.len()
    );
    pair.finish().await;
}

/// (b) Replica A is killed while it holds claims (GitHub answers in 50 ms, so evaluations
/// take a while). A third of the PRs get both deliveries at A, a third both at B, a third one
/// at each: B must finish what A accepted or claimed, within lease + 10 s of the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_one_replica_mid_burst_and_the_other_finishes_within_lease_plus_10_s() {
    const LEASE: Duration = Duration::from_secs(12);
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let cases = open_burst(&fake, 200);
    let Some(pair) = Pair::start(
        &fake,
        &[
            ("REVIEWGATE_LEASE_SECS", "12"),
            ("REVIEWGATE_GITHUB_TIMEOUT_SECS", "2"),
        ],
    )
    .await
    else {
        return;
    };
    let Pair {
        a,
        b,
        door_a,
        store,
        db,
        ..
    } = pair;
    fake.set_latency(Duration::from_millis(50));
    let (to_a, to_b) = (Hook::to(&a), Hook::to(&b));
    let deliveries = burst(
        &fake,
        &cases,
        &[to_a.clone(), to_b.clone(), to_a.clone()],
        &[to_a, to_b.clone(), to_b],
        Duration::from_millis(3),
        32,
    )
    .await;

    // Kill A once it has written a few checks and is waiting on GitHub for more.
    let a_busy = || {
        let requests = fake.requests();
        let from_a = requests.iter().filter(|r| r.door == door_a);
        let (mut writes, mut in_flight) = (0, 0);
        for r in from_a {
            writes += usize::from(is_write(r));
            in_flight += usize::from(r.finished.is_none());
        }
        writes >= 10 && in_flight > 0
    };
    wait_for("A to be busy", Duration::from_secs(30), a_busy).await;
    a.kill9();
    let killed = Instant::now();
    let unfinished_at_kill: Vec<u64> = wrong(&fake, &cases).iter().map(|c| c.n).collect();

    let statuses = deliveries.await.expect("burst");
    let ok = |s: u16| (200..300).contains(&s);
    let accepted: Vec<Case> = cases
        .iter()
        .zip(&statuses)
        .filter(|(_, (s1, s2))| ok(*s1) || ok(*s2))
        .map(|(c, _)| c.clone())
        .collect();
    // Accepted only by A, and not finished when it died: only the store can save these.
    let only_a: Vec<u64> = cases
        .iter()
        .zip(&statuses)
        .enumerate()
        .filter(|(i, (c, (s1, s2)))| {
            i % 3 == 0 && (ok(*s1) || ok(*s2)) && unfinished_at_kill.contains(&c.n)
        })
        .map(|(_, (c, _))| c.n)
        .collect();
    for (i, (c, (s1, s2))) in cases.iter().zip(&statuses).enumerate() {
        // B accepts everything; A answers 2xx or, once killed, nothing.
        let at_b = [i % 3 == 1, i % 3 != 0];
        for (status, at_b) in [(*s1, at_b[0]), (*s2, at_b[1])] {
            let fine = ok(status) || (!at_b && status == 0);
            assert!(
                fine,
                "#{}: {} answered {status}",
                c.n,
                if at_b { "B" } else { "A" }
            );
        }
    }
    let budget = LEASE + Duration::from_secs(10);
    wait_for(
        "B to write every accepted PR's right check",
        budget.saturating_sub(killed.elapsed()),
        || wrong(&fake, &accepted).is_empty(),
    )
    .await;
    let took = killed.elapsed();
    drained(&store, Duration::from_secs(10)).await;
    assert!(wrong(&fake, &accepted).is_empty(), "changed after settling");
    let verdicts = verdicts(&fake);
    for c in &accepted {
        assert_eq!(verdicts[&c.head].1, 1, "#{}: one run on its head", c.n);
    }
    let metrics = b.metrics().await;
    let taken_over = metric_sum(&metrics, "reviewgate_claims_lost_total");
    assert!(taken_over > 0, "B took over A's expired claims\n{metrics}");
    assert!(
        !only_a.is_empty(),
        "the kill left some work accepted only by A unfinished"
    );
    println!(
        "killed A with {} of {} accepted PRs unfinished ({} accepted only by A); B took over \
         {taken_over} expired claims and wrote every right check {took:?} after the kill \
         (lease {LEASE:?})",
        unfinished_at_kill.len(),
        accepted.len(),
        only_a.len(),
    );
    b.stop();
    db.cleanup().await;
}

/// (c) An approval reaches A while GitHub is slow; once the replica evaluating it has read the
/// reviews (the approval alone), a reviewer requests changes, delivered to the other replica.
/// Whoever evaluates when, the check ends red, and once a failure was written after the
/// request for changes, no success is written over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_events_never_end_green() {
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let Some(pair) = Pair::start(&fake, &[]).await else {
        return;
    };
    let case = one_waiting_pr(&fake, &pair.b).await;
    let slow_door = approval_read_slowly(&fake, &pair, &case, Duration::from_millis(600)).await;
    let (_, other) = pair.split(&slow_door);
    review_at(
        &fake,
        &Hook::to(other),
        case.n,
        "carol",
        "changes_requested",
    )
    .await;
    let changes_stored = Instant::now();

    wait_for("the check to turn red", Duration::from_secs(60), || {
        wrong(&fake, [&case]).is_empty()
    })
    .await;
    drained(&pair.store, Duration::from_secs(30)).await;
    let writes = writes_on(&fake, &fake.requests(), &case.head);
    let story = story(&slow_door, &writes);
    assert_eq!(
        writes.last().and_then(|w| w.conclusion.as_deref()),
        Some("failure"),
        "{story:?}"
    );
    let red = writes
        .iter()
        .position(|w| w.started > changes_stored && w.conclusion.as_deref() == Some("failure"))
        .unwrap_or_else(|| panic!("a failure written after the changes request: {story:?}"));
    assert!(
        writes[red..]
            .iter()
            .all(|w| w.conclusion.as_deref() == Some("failure")),
        "a success written over the newer failure: {story:?}"
    );
    let run = fake.latest_check_run(REPO, &case.head, CHECK).expect("run");
    assert_eq!(run.history.last().unwrap()["conclusion"], "failure");
    println!("writes on the head, in order: {story:?}");
    pair.finish().await;
}

/// (c), where it bites: the replica that has read the approval alone freezes (SIGSTOP) past
/// its lease; a request for changes reaches the other, which takes the expired claim over and
/// writes the failure. When the frozen one wakes up with its verdict from before, it must
/// write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_frozen_past_its_lease_never_writes_its_stale_verdict() {
    const LEASE: Duration = Duration::from_secs(6);
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let Some(pair) = Pair::start(
        &fake,
        &[
            ("REVIEWGATE_LEASE_SECS", "6"),
            ("REVIEWGATE_GITHUB_TIMEOUT_SECS", "2"),
        ],
    )
    .await
    else {
        return;
    };
    let case = one_waiting_pr(&fake, &pair.b).await;
    // Slow enough to catch it between two requests, fast enough not to time out (2 s).
    let slow_door = approval_read_slowly(&fake, &pair, &case, Duration::from_millis(1000)).await;
    let (frozen, other) = pair.split(&slow_door);
    let evaluated_before = metric_sum(&frozen.metrics().await, "reviewgate_evaluations_total");
    frozen.pause();
    let paused = Instant::now();
    review_at(
        &fake,
        &Hook::to(other),
        case.n,
        "carol",
        "changes_requested",
    )
    .await;

    let other_wrote = || {
        writes_on(&fake, &fake.requests(), &case.head)
            .iter()
            .any(|w| w.door != slow_door && w.started > paused)
    };
    wait_for(
        "the other to write",
        LEASE + Duration::from_secs(10),
        other_wrote,
    )
    .await;
    let other_wrote = paused.elapsed();
    assert!(
        wrong(&fake, [&case]).is_empty(),
        "the other wrote the failure"
    );
    frozen.resume();
    // The frozen evaluation ends (every evaluation is counted when it ends, however).
    let mut ended = false;
    for _ in 0..200 {
        let evaluated = metric_sum(&frozen.metrics().await, "reviewgate_evaluations_total");
        ended = evaluated > evaluated_before;
        if ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the frozen evaluation ended after it woke");
    drained(&pair.store, Duration::from_secs(30)).await;

    let writes = writes_on(&fake, &fake.requests(), &case.head);
    let story = story(&slow_door, &writes);
    let stale = writes
        .iter()
        .filter(|w| w.door == slow_door && w.started > paused)
        .count();
    assert_eq!(
        stale, 0,
        "the frozen replica wrote after it woke: {story:?}"
    );
    assert!(wrong(&fake, [&case]).is_empty(), "ends red: {story:?}");
    let red = writes
        .iter()
        .position(|w| w.door != slow_door && w.started > paused)
        .expect("the other's write");
    assert!(
        writes[red..]
            .iter()
            .all(|w| w.conclusion.as_deref() == Some("failure")),
        "{story:?}"
    );
    let taken_over = metric_sum(&other.metrics().await, "reviewgate_claims_lost_total");
    assert_eq!(taken_over, 1, "the other took the expired claim over");
    println!(
        "the other replica wrote the failure {other_wrote:?} after the first froze (lease \
         {LEASE:?}); writes: {story:?}"
    );
    pair.finish().await;
}

/// (d) One delivery (one `X-GitHub-Delivery`) reaches both replicas at the same instant, as
/// when GitHub retries into a load balancer: one accepts it, the other says it already has it,
/// and the PR is evaluated once — also when the same delivery comes again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_at_both_replicas_causes_one_evaluation() {
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let cases = open_burst(&fake, 1);
    let case = &cases[0];
    let Some(pair) = Pair::start(&fake, &[]).await else {
        return;
    };
    let (to_a, to_b) = (Hook::to(&pair.a), Hook::to(&pair.b));
    let payload = opened(&fake, case.n);
    let id = support::webhooks::delivery_id();
    let (at_a, at_b) = tokio::join!(
        to_a.send_as("pull_request", &payload, &id),
        to_b.send_as("pull_request", &payload, &id)
    );
    let mut answers = [at_a, at_b];
    answers.sort();
    assert_eq!((answers[0].0, answers[1].0), (200, 202), "{answers:?}");
    assert!(
        answers[0].1.contains("delivery already received"),
        "{answers:?}"
    );
    wait_for("the check", Duration::from_secs(20), || {
        wrong(&fake, &cases).is_empty()
    })
    .await;
    drained(&pair.store, Duration::from_secs(10)).await;
    // GitHub redelivers it to B later: still nothing to do.
    let (again, body) = to_b.send_as("pull_request", &payload, &id).await;
    assert_eq!(again, 200, "{body}");
    // Longer than the debounce and a poll: a second evaluation would have started.
    tokio::time::sleep(Duration::from_secs(1)).await;
    drained(&pair.store, Duration::from_secs(10)).await;

    let (ma, mb) = tokio::join!(pair.a.metrics(), pair.b.metrics());
    let evaluations = [&ma, &mb].map(|m| metric_sum(m, "reviewgate_evaluations_total"));
    assert_eq!(evaluations.iter().sum::<u64>(), 1, "A, B: {evaluations:?}");
    let windows = windows(&fake, &cases, &fake.requests());
    assert_eq!(windows[&case.n].len(), 1, "{:?}", windows[&case.n]);
    assert_eq!(verdicts(&fake)[&case.head].1, 1, "one run");
    pair.finish().await;
}

/// SQLite, one process: deliveries are accepted while GitHub is slow, the process is killed
/// with work claimed and work waiting, and a new process on the same file, with sweeps off
/// (nothing but the store can tell it about that work), writes every accepted PR's check —
/// at once, not a lease later: what the dead process held (claims, and the commits it was
/// evaluating) is released at start-up. The lease is a minute, so waiting one out shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_during_a_burst_restart_with_sweeps_off_every_accepted_pr_gets_its_check() {
    let _serial = SERIAL.lock().await;
    let long_lease = [("REVIEWGATE_LEASE_SECS", "60")];
    let fake = fake_world().await;
    let cases = open_burst(&fake, 100);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("reviewgate.db").display());
    fake.set_latency(Duration::from_millis(300));
    let first = replica(&fake, &fake.url(), &url, &long_lease).await;
    let to_first = [Hook::to(&first)];
    let statuses = burst(
        &fake,
        &cases,
        &to_first,
        &to_first,
        Duration::from_millis(3),
        32,
    )
    .await
    .await
    .expect("burst");
    let accepted: Vec<Case> = cases
        .iter()
        .zip(&statuses)
        .filter(|(_, (s1, s2))| (200..300).contains(s1) || (200..300).contains(s2))
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(accepted.len(), cases.len(), "{statuses:?}");
    let busy = || {
        let requests = fake.requests();
        let writes = requests.iter().filter(|r| is_write(r)).count();
        writes >= 3 && requests.iter().any(|r| r.finished.is_none())
    };
    wait_for("evaluations under way", Duration::from_secs(30), busy).await;
    first.kill9();
    let unfinished = wrong(&fake, &accepted).len();
    assert!(unfinished > 0, "the kill left work unfinished");

    fake.set_latency(Duration::ZERO);
    let restarted = Instant::now();
    let second = replica(&fake, &fake.url(), &url, &long_lease).await;
    wait_for(
        "every accepted PR's right check, well inside a lease",
        Duration::from_secs(20),
        || wrong(&fake, &accepted).is_empty(),
    )
    .await;
    let took = restarted.elapsed();
    second.stop();
    let verdicts = verdicts(&fake);
    for c in &accepted {
        assert_eq!(verdicts[&c.head].1, 1, "#{}: one run on its head", c.n);
    }
    let store = Store::connect(&url).await.expect("open the store");
    assert_eq!(store.pending().await.expect("pending"), 0);
    println!(
        "killed with {unfinished} of {} accepted PRs unfinished; after the restart every right \
         check in {took:?}",
        accepted.len()
    );
}

/// The check of (a) can fail: two replicas that share no store (each its own SQLite file, as
/// every replica kept its own queue before the store) evaluate the same PRs at once, and the
/// windows seen from the fake overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlap_check_sees_two_replicas_that_share_no_store() {
    let _serial = SERIAL.lock().await;
    let fake = fake_world().await;
    let cases = open_burst(&fake, 20);
    fake.set_latency(Duration::from_millis(20));
    let (door_a, door_b) = (fake.open_door().await, fake.open_door().await);
    let a_dir = tempfile::tempdir().expect("temp dir");
    let b_dir = tempfile::tempdir().expect("temp dir");
    let store = |d: &tempfile::TempDir| format!("sqlite:{}", d.path().join("r.db").display());
    let (store_a, store_b) = (store(&a_dir), store(&b_dir));
    let (a, b) = tokio::join!(
        replica(&fake, &door_a, &store_a, &[]),
        replica(&fake, &door_b, &store_b, &[])
    );
    let (to_a, to_b) = (Hook::to(&a), Hook::to(&b));
    for c in &cases {
        let payload = opened(&fake, c.n);
        let (sa, sb) = tokio::join!(
            to_a.send("pull_request", &payload),
            to_b.send("pull_request", &payload)
        );
        assert_eq!((sa, sb), (202, 202));
    }
    wait_for("checks on every PR", Duration::from_secs(30), || {
        verdicts(&fake).len() == cases.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.stop();
    b.stop();
    let clashes = overlaps(&windows(&fake, &cases, &fake.requests()));
    assert!(!clashes.is_empty(), "no overlap seen");
}
