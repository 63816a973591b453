//! A counting global allocator: live and peak heap bytes of the whole process.
//!
//! nextest runs every test in a process of its own, so during a fuzz test the only allocations
//! counted are that test's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::test_runner::TestCaseError;

/// Bytes currently allocated through [`CountingAlloc`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Highest value of [`LIVE`] since the last [`bounded`] reset it.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Allowance for fixed-size buffers (I/O buffers, TLS and hashing state, tables) that any call
/// may allocate whatever its input.
const FIXED_ALLOWANCE: usize = 16 << 20;
/// Allowance per input byte: parsed copies, owned strings and maps, error messages quoting it.
const PER_INPUT_BYTE: usize = 64;

/// [`System`], counting live and peak bytes. Install it in a test binary with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds as it does for `System`; the counters are atomics updated after
// the fact and never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this type) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// Whether [`CountingAlloc`] is this process's global allocator (a 1 MiB allocation shows in
/// the live count). Without it every [`bounded`] check would pass vacuously.
pub fn installed() -> bool {
    const PROBE: usize = 1 << 20;
    let before = LIVE.load(Ordering::Relaxed);
    let probe: Vec<u8> = std::hint::black_box(Vec::with_capacity(PROBE));
    let after = LIVE.load(Ordering::Relaxed);
    drop(probe);
    after >= before.saturating_add(PROBE)
}

/// The most a call handling `input_len` hostile bytes may have live at once beyond what was
/// live before it: 64 bytes per input byte plus 16 MiB.
pub fn alloc_bound(input_len: usize) -> usize {
    alloc_bound_per_byte(PER_INPUT_BYTE, input_len)
}

fn alloc_bound_per_byte(per_byte: usize, input_len: usize) -> usize {
    input_len.saturating_mul(per_byte).saturating_add(FIXED_ALLOWANCE)
}

/// Runs `call` and fails the case if its peak live heap (above what was live before) exceeds
/// [`alloc_bound`]`(input_len)`.
pub fn bounded<T>(input_len: usize, call: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    bounded_per_byte(PER_INPUT_BYTE, input_len, call)
}

/// [`bounded`] with another allowance per input byte, for a target whose known, linear cost is
/// higher (say why where it is used).
pub fn bounded_per_byte<T>(per_byte: usize, input_len: usize, call: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = call();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let bound = alloc_bound_per_byte(per_byte, input_len);
    if peak > bound {
        return Err(TestCaseError::fail(format!(
            "unbounded allocation: peak {peak} bytes live for {input_len} input bytes (bound {bound})"
        )));
    }
    Ok(out)
}
