//! Per-transition unit tests and property tests of the engine.

use proptest::prelude::*;

use super::*;

const SALT: [u8; 16] = *b"rollout-salt-001";

fn plan() -> RolloutPlan {
    RolloutPlan::canary([10, 50, 200, 500], 60)
}

fn started(now: Timestamp) -> Rollout {
    let mut r = Rollout::new(plan(), SALT).unwrap();
    r.act(RolloutAction::Start, now).unwrap();
    r
}

fn record(id: &str, stage_index: usize, stage: DeviceStage) -> DeviceRecord {
    let mut r = DeviceRecord::offered(id, stage_index, Some("old".into()), 0);
    r.stage = stage;
    if stage.is_failure() {
        r.failures = 1;
    }
    r
}

fn fleet(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("device-{i:05}")).collect()
}

#[test]
fn plan_validation() {
    assert!(plan().validate().is_ok());
    let mut p = plan();
    p.stages[1].fraction_bp = 50;
    assert_eq!(p.validate(), Err(PlanError::ShrinkingStage(1)));
    let mut p = plan();
    p.stages.last_mut().unwrap().fraction_bp = 9_000;
    assert_eq!(p.validate(), Err(PlanError::LastStageNotFull));
    assert_eq!(
        RolloutPlan {
            stages: vec![],
            ..plan()
        }
        .validate(),
        Err(PlanError::NoStages)
    );
    let mut p = plan();
    p.stages = vec![p.stages[3].clone(); MAX_STAGES + 1];
    assert_eq!(p.validate(), Err(PlanError::TooManyStages));
}

#[test]
fn draft_offers_nothing_until_started() {
    let r = Rollout::new(plan(), SALT).unwrap();
    assert_eq!(r.decide_offer("any", None, 0), OfferDecision::NotStarted);
}

#[test]
fn actions_only_apply_in_their_states() {
    let mut r = Rollout::new(plan(), SALT).unwrap();
    assert!(r.act(RolloutAction::Resume, 0).is_err());
    assert!(r.act(RolloutAction::Approve, 0).is_err());
    r.act(RolloutAction::Start, 0).unwrap();
    assert!(r.act(RolloutAction::Start, 1).is_err());
    r.act(RolloutAction::Pause, 2).unwrap();
    assert_eq!(
        r.state,
        RolloutState::Paused {
            reason: PauseReason::Operator
        }
    );
    r.act(RolloutAction::Resume, 3).unwrap();
    r.act(RolloutAction::Abort, 4).unwrap();
    assert!(r.act(RolloutAction::Resume, 5).is_err());
    let kinds: Vec<_> = r.timeline.iter().map(|e| e.transition.clone()).collect();
    assert_eq!(
        kinds,
        [
            Transition::Started,
            Transition::Paused {
                reason: PauseReason::Operator
            },
            Transition::Resumed,
            Transition::Aborted
        ]
    );
}

#[test]
fn promotes_on_committed_devices_after_soak_only() {
    let mut r = started(0);
    // Downloaded and installed are not success.
    let records = vec![
        record("a", 0, DeviceStage::Downloaded),
        record("b", 0, DeviceStage::Rebooted),
    ];
    assert_eq!(r.evaluate(&r.counts(&records), 5, 1_000), None);
    let records = vec![record("a", 0, DeviceStage::Committed)];
    // Committed but not soaked (the cohort holds one device, so one commit suffices).
    assert_eq!(r.evaluate(&r.counts(&records), 1, 59), None);
    assert_eq!(
        r.evaluate(&r.counts(&records), 1, 60),
        Some(Transition::Promoted { from: 0, to: 1 })
    );
    assert_eq!(r.stage, 1);
    assert_eq!(r.stage_started_at, 60);
}

#[test]
fn approval_gated_stage_waits_for_an_operator() {
    let mut p = plan();
    p.stages[0].promotion = Promotion::Approval;
    let mut r = Rollout::new(p, SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    let records = vec![record("a", 0, DeviceStage::Committed)];
    assert_eq!(
        r.evaluate(&r.counts(&records), 1, 100),
        Some(Transition::AwaitingApproval { stage: 0 })
    );
    assert_eq!(
        r.evaluate(&r.counts(&records), 1, 200),
        None,
        "no second promotion without approval"
    );
    assert_eq!(
        r.act(RolloutAction::Approve, 300).unwrap(),
        Transition::Promoted { from: 0, to: 1 }
    );
}

#[test]
fn failure_count_pauses_by_itself_with_a_reason() {
    let mut r = started(0);
    let records = vec![record("f0", 0, DeviceStage::Failed)];
    let t = r.evaluate(&r.counts(&records), 100, 10).unwrap();
    let Transition::Paused { reason } = t else {
        panic!("{t:?}")
    };
    assert_eq!(
        reason,
        PauseReason::FailureCount {
            stage: 0,
            failures: 1,
            threshold: 1
        }
    );
    assert!(r.timeline.last().unwrap().message.contains("1 failed or rolled-back"));
    // New devices get no offer while paused.
    assert_eq!(r.decide_offer("new-device", None, 0), OfferDecision::Paused);
}

#[test]
fn failure_rate_pauses_and_rolled_back_counts_as_failure() {
    let mut p = plan();
    p.stages[0].max_failures = 0; // rate only
    let mut r = Rollout::new(p, SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    let mut records: Vec<_> = (0..19)
        .map(|i| record(&format!("c{i}"), 0, DeviceStage::Committed))
        .collect();
    records.push(record("rb", 0, DeviceStage::RolledBack));
    // 1 of 20 = 5%: not above the 5% threshold.
    assert_eq!(r.evaluate(&r.counts(&records), 100, 0), None);
    records.push(record("rb2", 0, DeviceStage::RolledBack));
    let t = r.evaluate(&r.counts(&records), 100, 0).unwrap();
    assert!(matches!(
        t,
        Transition::Paused {
            reason: PauseReason::FailureRate {
                failures: 2,
                finished: 21,
                ..
            }
        }
    ));
}

#[test]
fn resume_acknowledges_failures_so_far() {
    let mut r = started(0);
    let records = vec![record("f0", 0, DeviceStage::Failed)];
    let counts = r.counts(&records);
    assert!(r.evaluate(&counts, 100, 1).is_some());
    r.act(RolloutAction::Resume, 2).unwrap();
    r.acknowledge_failures(&counts);
    assert_eq!(
        r.evaluate(&counts, 100, 3),
        None,
        "the same failures do not pause again"
    );
}

#[test]
fn device_reports_are_idempotent_and_monotone() {
    let mut d = DeviceRecord::offered("d", 0, Some("old".into()), 0);
    assert!(d.apply(&DeviceReport::Verified, 1));
    assert!(!d.apply(&DeviceReport::Downloading, 2), "late report is ignored");
    assert!(!d.apply(&DeviceReport::Verified, 3), "replay is ignored");
    assert!(d.apply(&DeviceReport::Committed, 4));
    assert!(!d.apply(&DeviceReport::Failed("late".into()), 5), "committed is final");
    assert_eq!(d.stage, DeviceStage::Committed);
}

#[test]
fn rollback_old_digest_after_install_is_a_failure() {
    let mut d = DeviceRecord::offered("d", 0, Some("old".into()), 0);
    assert!(
        !d.observe_running("old", 1),
        "before install the old digest is expected"
    );
    d.apply(&DeviceReport::Installing, 2);
    assert!(d.observe_running("old", 3));
    assert_eq!(d.stage, DeviceStage::RolledBack);
    assert_eq!(d.failures, 1);
}

#[test]
fn penalty_box_after_repeated_failures() {
    let r = started(0);
    let mut d = record("d", 0, DeviceStage::Failed);
    assert_eq!(r.decide_offer("d", Some(&d), 0), OfferDecision::Failed);
    d.retry(1);
    d.apply(&DeviceReport::Failed("again".into()), 2);
    assert_eq!(d.failures, 2);
    assert_eq!(r.decide_offer("d", Some(&d), 0), OfferDecision::PenaltyBox);
}

#[test]
fn in_flight_cap_limits_new_offers_only() {
    let r = started(0);
    let in_cohort = fleet(10_000).into_iter().find(|id| r.in_current_cohort(id)).unwrap();
    assert_eq!(r.decide_offer(&in_cohort, None, 50), OfferDecision::InFlightCap);
    assert_eq!(r.decide_offer(&in_cohort, None, 49), OfferDecision::Offer { new: true });
    let ongoing = record(&in_cohort, 0, DeviceStage::Downloading);
    assert_eq!(
        r.decide_offer(&in_cohort, Some(&ongoing), 50),
        OfferDecision::Offer { new: false }
    );
}

#[test]
fn abort_stops_devices_that_have_not_started() {
    let mut r = started(0);
    r.act(RolloutAction::Abort, 1).unwrap();
    let offered = record("a", 0, DeviceStage::Offered);
    let installing = record("b", 0, DeviceStage::Installing);
    assert_eq!(r.decide_offer("a", Some(&offered), 0), OfferDecision::Aborted);
    assert_eq!(
        r.decide_offer("b", Some(&installing), 0),
        OfferDecision::Offer { new: false }
    );
    assert_eq!(r.decide_offer("c", None, 0), OfferDecision::Aborted);
}

#[test]
fn small_cohort_cannot_stall_the_gate() {
    // 1% of 200 devices is ~2: min_committed 5 is capped by what the cohort can give.
    let mut p = plan();
    p.stages[0].min_committed = Some(5);
    let mut r = Rollout::new(p, SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    let records = vec![
        record("a", 0, DeviceStage::Committed),
        record("b", 0, DeviceStage::Committed),
    ];
    assert!(matches!(
        r.evaluate(&r.counts(&records), 2, 60),
        Some(Transition::Promoted { .. })
    ));
}

#[test]
fn cohort_fraction_is_close_to_the_plan() {
    let ids = fleet(100_000);
    for bp in [100u16, 1_000, 5_000] {
        let n = ids.iter().filter(|id| in_cohort(&SALT, id, bp)).count() as f64;
        let expected = 100_000.0 * f64::from(bp) / 10_000.0;
        assert!(
            (n - expected).abs() < expected * 0.1 + 30.0,
            "{bp} bp: {n} vs {expected}"
        );
    }
}

proptest! {
    /// A device in a smaller stage stays in every larger one.
    #[test]
    fn cohorts_are_nested(id in "[a-z0-9-]{1,40}", a in 1u16..=10_000, b in 1u16..=10_000) {
        let (small, large) = (a.min(b), a.max(b));
        prop_assert!(!in_cohort(&SALT, &id, small) || in_cohort(&SALT, &id, large));
    }

    /// Replaying any report sequence changes no count.
    #[test]
    fn replayed_reports_never_double_count(reports in proptest::collection::vec(0u8..8, 0..20)) {
        let to_report = |r: u8| match r {
            0 => DeviceReport::Downloading, 1 => DeviceReport::Downloaded, 2 => DeviceReport::Verified,
            3 => DeviceReport::Installing, 4 => DeviceReport::Rebooted, 5 => DeviceReport::Committed,
            6 => DeviceReport::Failed("x".into()), _ => DeviceReport::RolledBack,
        };
        let r = started(0);
        let mut once = DeviceRecord::offered("d", 0, None, 0);
        let mut twice = once.clone();
        for (t, code) in reports.iter().enumerate() {
            once.apply(&to_report(*code), t as i64);
            twice.apply(&to_report(*code), t as i64);
            twice.apply(&to_report(*code), t as i64);
        }
        prop_assert_eq!(r.counts(&[once]), r.counts(&[twice]));
    }

    /// Simulated fleet at any failure rate: (a) no stage is ever promoted while its failures
    /// are at or past the thresholds; (b) a paused rollout touched no device outside the cohorts
    /// up to the paused stage; (c) a healthy release completes.
    #[test]
    fn gates_hold_at_any_failure_rate(fail_pct in 0u32..100, seed in any::<u64>()) {
        let ids = fleet(1_000);
        let (r, records, promotions) = simulate(&ids, fail_pct, seed);
        for (stage, counts) in promotions {
            let gate = &r.plan.stages[stage];
            prop_assert!(gate.max_failures == 0 || counts.failures() < gate.max_failures);
        }
        if let RolloutState::Paused { .. } = r.state {
            let fraction = r.plan.stages[r.stage].fraction_bp;
            prop_assert!(records.iter().all(|d| in_cohort(&SALT, &d.device_id, fraction)));
        }
        if fail_pct == 0 {
            prop_assert_eq!(r.state, RolloutState::Completed);
        }
    }
}

/// Runs a rollout over `ids` where each update fails with `fail_pct`% probability (seeded).
/// Returns the rollout, the device records and, for each promotion, the stage's counts then.
fn simulate(ids: &[String], fail_pct: u32, seed: u64) -> (Rollout, Vec<DeviceRecord>, Vec<(usize, StageCounts)>) {
    let mut r = started(0);
    let mut records: Vec<DeviceRecord> = Vec::new();
    let mut promotions = Vec::new();
    let mut rng = seed;
    for round in 0..200 {
        let now = round * 30;
        for id in ids {
            let idx = records.iter().position(|d| &d.device_id == id);
            let in_flight: u32 = r.counts(&records).iter().map(StageCounts::in_flight).sum();
            if let OfferDecision::Offer { new: true } = r.decide_offer(id, idx.map(|i| &records[i]), in_flight) {
                records.push(DeviceRecord::offered(id, r.stage, Some("old".into()), now));
            }
        }
        for d in records.iter_mut().filter(|d| d.stage.in_flight()) {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let fails = (rng >> 33) % 100 < u64::from(fail_pct);
            d.apply(
                &if fails {
                    DeviceReport::Failed("boot".into())
                } else {
                    DeviceReport::Committed
                },
                now,
            );
        }
        let cohort = ids.iter().filter(|id| r.in_current_cohort(id)).count() as u32;
        let counts = r.counts(&records);
        let stage = r.stage;
        if let Some(Transition::Promoted { .. } | Transition::Completed) = r.evaluate(&counts, cohort, now) {
            promotions.push((stage, counts[stage]));
        }
        if matches!(r.state, RolloutState::Paused { .. } | RolloutState::Completed) {
            break;
        }
    }
    (r, records, promotions)
}

#[test]
fn bad_release_pauses_in_the_canary_stage() {
    // The demo's scenario: 30% of devices fail to boot the new image.
    let ids = fleet(1_000);
    let (r, records, _) = simulate(&ids, 30, 7);
    assert!(matches!(r.state, RolloutState::Paused { .. }), "{:?}", r.state);
    assert_eq!(r.stage, 0);
    let canary = ids.iter().filter(|id| in_cohort(&SALT, id, 100)).count();
    assert!(records.len() <= canary + r.plan.max_in_flight as usize);
    assert!(r.timeline.last().unwrap().message.contains("stage 1"));
}

proptest! {
    /// Counts kept in memory by removing a record's old state and adding its new one always
    /// equal the counts derived from the records (what a restart recomputes).
    #[test]
    fn incremental_tally_equals_derived_counts(reports in proptest::collection::vec((0usize..20, 0u8..9), 0..200)) {
        let r = started(0);
        let mut records: Vec<DeviceRecord> = Vec::new();
        let mut counts = vec![StageCounts::default(); r.plan.stages.len()];
        for (i, (device, report)) in reports.into_iter().enumerate() {
            let now = i as Timestamp;
            let id = format!("d{device}");
            let Some(rec) = records.iter_mut().find(|d| d.device_id == id) else {
                let rec = DeviceRecord::offered(&id, device % 4, Some("old".into()), now);
                tally(&mut counts, &rec, true);
                records.push(rec);
                continue;
            };
            let report = match report {
                0 => DeviceReport::Downloading,
                1 => DeviceReport::Downloaded,
                2 => DeviceReport::Verified,
                3 => DeviceReport::Installing,
                4 => DeviceReport::Rebooted,
                5 => DeviceReport::Committed,
                6 => DeviceReport::Failed("x".into()),
                7 => DeviceReport::RolledBack,
                _ => {
                    tally(&mut counts, rec, false);
                    rec.retry(now);
                    tally(&mut counts, rec, true);
                    continue;
                }
            };
            tally(&mut counts, rec, false);
            rec.apply(&report, now);
            tally(&mut counts, rec, true);
        }
        prop_assert_eq!(counts, r.counts(&records));
    }
}

#[test]
fn stalled_device_fails_and_frees_its_slot() {
    let mut d = DeviceRecord::offered("a", 0, None, 0);
    assert!(!d.stall(1_000, 999));
    d.apply(&DeviceReport::Downloading, 500);
    assert!(!d.stall(1_000, 1_499), "progress restarts the clock");
    assert!(d.stall(1_000, 1_500));
    assert_eq!((d.stage, d.failures), (DeviceStage::Failed, 1));
    assert!(!d.stall(1_000, 9_000), "a final outcome does not stall again");
    let mut c = DeviceRecord::offered("b", 0, None, 0);
    c.apply(&DeviceReport::Committed, 1);
    assert!(!c.stall(1_000, 10_000));
}

#[test]
fn committed_share_lets_a_stage_promote_without_switched_off_devices() {
    let mut p = RolloutPlan::canary_by_share(0);
    p.stages[0].min_committed_bp = 9_000; // 90% of the cohort
    let mut r = Rollout::new(p, SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    // A cohort of 20: 17 committed (85%) is not enough, 18 (90%) is; 2 never check in.
    let mut counts = vec![StageCounts::default(); 4];
    counts[0].offered = 17;
    counts[0].committed = 17;
    assert_eq!(r.evaluate(&counts, 20, 1), None);
    counts[0].offered = 18;
    counts[0].committed = 18;
    assert!(matches!(
        r.evaluate(&counts, 20, 2),
        Some(Transition::Promoted { from: 0, to: 1 })
    ));
    // The default (100%) waits for the whole cohort.
    let mut r = Rollout::new(RolloutPlan::canary_by_share(0), SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    let mut counts = vec![StageCounts::default(); 4];
    counts[0].committed = 19;
    assert_eq!(r.evaluate(&counts, 20, 1_000), None);
}

#[test]
fn stored_plans_without_a_count_load_from_old_and_new_rows() {
    // New rows omit `min_committed` when the operator gave none; rows written before it was
    // optional hold u32::MAX. Both load as "no count", and the gate is the same.
    let plan = RolloutPlan::canary_by_share(0);
    let doc = serde_json::to_value(&plan).unwrap();
    assert!(doc["stages"][0].get("min_committed").is_none(), "{doc}");
    let mut legacy = doc.clone();
    for s in legacy["stages"].as_array_mut().unwrap() {
        s["min_committed"] = serde_json::json!(u32::MAX);
    }
    let old: RolloutPlan = serde_json::from_value(legacy).unwrap();
    assert_eq!(old, plan);
    let mut with_count = doc;
    with_count["stages"][1]["min_committed"] = serde_json::json!(7);
    let counted: RolloutPlan = serde_json::from_value(with_count).unwrap();
    assert_eq!(counted.stages[1].min_committed, Some(7));
    assert_eq!(serde_json::to_value(&counted).unwrap()["stages"][1]["min_committed"], 7);

    // committed_needed: the share of the cohort (cumulative) less failures so far, capped by
    // the count when one is given.
    let mut r = Rollout::new(counted, SALT).unwrap();
    r.act(RolloutAction::Start, 0).unwrap();
    let mut counts = vec![StageCounts::default(); 4];
    counts[0].failed = 2;
    assert_eq!(r.committed_needed(0, &counts, 10), 8);
    assert_eq!(r.committed_needed(1, &counts, 100), 7, "capped by min_committed");
    assert_eq!(r.committed_needed(9, &counts, 100), 0, "no such stage");
}
