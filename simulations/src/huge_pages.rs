//! Transparent huge pages for a simulation's heap.
//!
//! A large run reads its state at random: at 100,000 peers, 0.4 GiB of peer records,
//! piece rows, flows and calendar buckets, nearly every access to a different 4 KiB
//! page. Where the kernel gives huge pages only to memory that asks for them
//! (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise`, as on this
//! project's machines), glibc's allocator asks only when told so at start-up, by the
//! tunable `glibc.malloc.hugetlb=1` (glibc 2.35 and later; older ones ignore it). So a
//! long simulation runs itself again with that tunable set: the 100,000-peer flash
//! crowd then took about 4 % less time (benchmarks/HISTORY.md, "Session 9"), with the same
//! results to the last event (the tunable changes where memory comes from, nothing
//! the simulation computes).

/// The glibc tunable that makes `malloc` ask for transparent huge pages.
const TUNABLE: &str = "glibc.malloc.hugetlb";

/// Set to anything to run without huge pages (for comparisons).
pub const OPT_OUT: &str = "ILPT_SIM_NO_HUGE_PAGES";

/// Runs this program again with `glibc.malloc.hugetlb=1` added to `GLIBC_TUNABLES`,
/// when that would give its heap huge pages it does not have: on Linux with glibc,
/// transparent huge pages in `madvise` mode, the tunable not set already (by the user,
/// or by an earlier call), and [`OPT_OUT`] not set. Returns when it does not, or when
/// running again failed (why, for a log line); the run then goes on without.
/// Call it first thing, before any thread starts or any output is written.
pub fn run_again_with_huge_pages() -> Option<String> {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return None;
    }
    if std::env::var_os(OPT_OUT).is_some() {
        return None;
    }
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.contains(TUNABLE) {
        return None;
    }
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    if !mode.contains("[madvise]") {
        // `always` gives huge pages anyway; `never` gives none whatever we ask.
        return None;
    }
    let value = if tunables.is_empty() {
        format!("{TUNABLE}=1")
    } else {
        format!("{tunables}:{TUNABLE}=1")
    };
    run_again(&value)
}

#[cfg(unix)]
fn run_again(tunables: &str) -> Option<String> {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Some(format!("cannot find this program to run it again: {e}")),
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    Some(format!(
        "cannot run this program again with huge pages: {error}"
    ))
}

#[cfg(not(unix))]
fn run_again(_tunables: &str) -> Option<String> {
    None
}
