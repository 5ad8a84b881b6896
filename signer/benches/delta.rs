//! Delta benchmark: our patches against Debian `bsdiff` (bzip2), `xdelta3 -9` and
//! `zstd -19 --patch-from`, measured side by side in one run.
//!
//! ```text
//! cargo bench -p signer --bench delta -- [--check] NAME OLD NEW [NAME OLD NEW ...]
//! scripts/delta-bench.sh        # fetches the Debian pairs, then runs this on them + the fixture
//! ```
//!
//! Every tool runs as a child process (ours re-executes this binary with `--create` /
//! `--apply`), so all pay for process start and file loading alike. Times are wall-clock, best of
//! 15 runs (3 for inputs over 1 MiB); peak RSS comes from `/usr/bin/time -f %M`. Our device-side working
//! RAM is printed separately: it is what a bootloader needs, independent of image size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Row {
    tool: &'static str,
    patch: usize,
    diff: Duration,
    apply: Duration,
    diff_rss_kib: u64,
    rss_kib: u64,
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    // `--check`: exit 1 unless our patch is no larger than Debian bsdiff's on every pair (CI).
    let check_sizes = args.first().map(String::as_str) == Some("--check");
    if check_sizes {
        args.remove(0);
    }
    let mut failed = Vec::new();
    if args.first().map(String::as_str) == Some("--create") {
        // Child mode: create OLD NEW -> PATCH, timed like the other tools' processes.
        let old = std::fs::read(&args[1]).unwrap();
        let new = std::fs::read(&args[2]).unwrap();
        let patch = signer::delta::create(&old, &new, &|_, _| {}).unwrap();
        std::fs::write(&args[3], patch).unwrap();
        return;
    }
    if args.first().map(String::as_str) == Some("--apply") {
        // Child mode for RSS measurement: apply OLD PATCH -> OUT.
        let old = std::fs::read(&args[1]).unwrap();
        let patch = std::fs::read(&args[2]).unwrap();
        let new = signer::delta::apply(&old, &patch).unwrap();
        std::fs::write(&args[3], new).unwrap();
        return;
    }
    if args.is_empty() || !args.chunks_exact(3).remainder().is_empty() {
        eprintln!("usage: delta NAME OLD NEW [NAME OLD NEW ...]");
        std::process::exit(2);
    }
    let work = tempfile::tempdir().unwrap();
    println!(
        "device working RAM (ours): ApplyRam {} B + page buffer (caller's erase unit) + decoder state on stack",
        std::mem::size_of::<device_verifier::delta::ApplyRam>()
    );
    println!();
    println!("| pair | old → new bytes | tool | patch B | vs bsdiff | diff ms | apply ms | diff peak RSS KiB | apply peak RSS KiB |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for chunk in args.chunks(3) {
        let (name, old, new) = (&chunk[0], Path::new(&chunk[1]), Path::new(&chunk[2]));
        let rows = bench_pair(old, new, work.path());
        let bsdiff = rows.iter().find(|r| r.tool == "bsdiff").map_or(1, |r| r.patch);
        if rows.iter().any(|r| r.tool == "ours" && r.patch > bsdiff) {
            failed.push(name.clone());
        }
        let sizes = format!(
            "{} → {}",
            std::fs::metadata(old).unwrap().len(),
            std::fs::metadata(new).unwrap().len()
        );
        for r in rows {
            println!(
                "| {name} | {sizes} | {} | {} | {:.3} | {:.1} | {:.1} | {} | {} |",
                r.tool,
                r.patch,
                r.patch as f64 / bsdiff as f64,
                r.diff.as_secs_f64() * 1e3,
                r.apply.as_secs_f64() * 1e3,
                kib(r.diff_rss_kib),
                kib(r.rss_kib)
            );
        }
    }
    if check_sizes && !failed.is_empty() {
        eprintln!("error: our patch is larger than bsdiff's for: {}", failed.join(", "));
        std::process::exit(1);
    }
}

fn bench_pair(old: &Path, new: &Path, work: &Path) -> Vec<Row> {
    let new_bytes = std::fs::read(new).unwrap();
    let reps = if new_bytes.len() < 1 << 20 { 15 } else { 3 };
    let out = work.join("out");
    let mut rows = Vec::new();

    // Ours, as a child process like every other tool (the signer library is what the CLI runs).
    let patch_path = work.join("ours.patch");
    let me = std::env::current_exe().unwrap();
    let (diff, diff_rss) = timed_rss(
        reps,
        &me,
        &[
            "--create".as_ref(),
            old.as_os_str(),
            new.as_os_str(),
            patch_path.as_os_str(),
        ],
    );
    let patch = std::fs::read(&patch_path).unwrap();
    // The library alone, without process start and file I/O (what `signer` spends inside).
    let old_bytes = std::fs::read(old).unwrap();
    let in_diff = best_of(reps, || {
        assert!(signer::delta::create(&old_bytes, &new_bytes, &|_, _| {}).unwrap() == patch);
    });
    let in_apply = best_of(reps, || {
        assert!(signer::delta::apply(&old_bytes, &patch).unwrap() == new_bytes);
    });
    let (apply, rss) = timed_rss(
        reps,
        &me,
        &[
            "--apply".as_ref(),
            old.as_os_str(),
            patch_path.as_os_str(),
            out.as_os_str(),
        ],
    );
    check(&out, &new_bytes, "ours");
    rows.push(Row {
        tool: "ours, in-process",
        patch: patch.len(),
        diff: in_diff,
        apply: in_apply,
        diff_rss_kib: 0,
        rss_kib: 0,
    });
    rows.push(Row {
        tool: "ours",
        patch: patch.len(),
        diff,
        apply,
        diff_rss_kib: diff_rss,
        rss_kib: rss,
    });

    let p = work.join("bsdiff.patch");
    let (diff, diff_rss) = timed_rss(
        reps,
        Path::new("bsdiff"),
        &[old.as_os_str(), new.as_os_str(), p.as_os_str()],
    );
    let (apply, rss) = timed_rss(
        reps,
        Path::new("bspatch"),
        &[old.as_os_str(), out.as_os_str(), p.as_os_str()],
    );
    check(&out, &new_bytes, "bsdiff");
    rows.push(Row {
        tool: "bsdiff",
        patch: len(&p),
        diff,
        apply,
        diff_rss_kib: diff_rss,
        rss_kib: rss,
    });

    let p = work.join("xdelta3.patch");
    let s = old.as_os_str();
    let (diff, diff_rss) = timed_rss(
        reps,
        Path::new("xdelta3"),
        &[
            "-9".as_ref(),
            "-f".as_ref(),
            "-e".as_ref(),
            "-s".as_ref(),
            s,
            new.as_os_str(),
            p.as_os_str(),
        ],
    );
    let (apply, rss) = timed_rss(
        reps,
        Path::new("xdelta3"),
        &[
            "-f".as_ref(),
            "-d".as_ref(),
            "-s".as_ref(),
            s,
            p.as_os_str(),
            out.as_os_str(),
        ],
    );
    check(&out, &new_bytes, "xdelta3");
    rows.push(Row {
        tool: "xdelta3 -9",
        patch: len(&p),
        diff,
        apply,
        diff_rss_kib: diff_rss,
        rss_kib: rss,
    });

    let p = work.join("zstd.patch");
    let from = PathBuf::from(format!("--patch-from={}", old.display()));
    let (diff, diff_rss) = timed_rss(
        reps,
        Path::new("zstd"),
        &[
            "-q".as_ref(),
            "-f".as_ref(),
            "-19".as_ref(),
            from.as_os_str(),
            new.as_os_str(),
            "-o".as_ref(),
            p.as_os_str(),
        ],
    );
    let (apply, rss) = timed_rss(
        reps,
        Path::new("zstd"),
        &[
            "-q".as_ref(),
            "-f".as_ref(),
            "-d".as_ref(),
            from.as_os_str(),
            p.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
    );
    check(&out, &new_bytes, "zstd");
    rows.push(Row {
        tool: "zstd -19 --patch-from",
        patch: len(&p),
        diff,
        apply,
        diff_rss_kib: diff_rss,
        rss_kib: rss,
    });
    rows
}

/// "-" for rows measured in-process (no RSS of their own).
fn kib(v: u64) -> String {
    if v == 0 {
        "-".to_owned()
    } else {
        v.to_string()
    }
}

fn len(p: &Path) -> usize {
    usize::try_from(std::fs::metadata(p).unwrap().len()).unwrap()
}

fn check(out: &Path, expected: &[u8], tool: &str) {
    assert!(
        std::fs::read(out).unwrap() == expected,
        "{tool} did not reproduce the new file"
    );
}

fn best_of(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Best wall time of `reps` runs of `program args` under `/usr/bin/time`, and its peak RSS.
fn timed_rss(reps: usize, program: &Path, args: &[&std::ffi::OsStr]) -> (Duration, u64) {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut rss = 0;
    let time = best_of(reps, || {
        let status = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(rss_file.path())
            .arg(program)
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{} failed", program.display());
        rss = std::fs::read_to_string(rss_file.path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    });
    (time, rss)
}
