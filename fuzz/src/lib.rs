//! What the fuzz targets share: a stack overflow reported like any other crash.
//!
//! Without a sanitizer nothing gives the main thread an alternate signal stack, so
//! libFuzzer's SIGSEGV handler cannot run when the stack overflows: the process dies
//! without saving the input. [`prepare`], called at the start of every input, gives
//! the thread an alternate stack once and lets libFuzzer's handler use it, so a stack
//! overflow is a `deadly signal` with its input in `fuzz/artifacts/<target>/`.

use std::sync::Once;

/// Runs once per process, on the fuzzing thread, after libFuzzer set its handlers.
pub fn prepare() {
    static ONCE: Once = Once::new();
    ONCE.call_once(alternate_signal_stack);
}

#[cfg(unix)]
fn alternate_signal_stack() {
    const SIZE: usize = 256 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let alternate = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: the stack is leaked, so it outlives the thread; the handler installed
    // again is libFuzzer's own, read just before, with SA_ONSTACK added.
    unsafe {
        if libc::sigaltstack(&alternate, std::ptr::null_mut()) != 0 {
            return;
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut action) != 0 {
            return;
        }
        action.sa_flags |= libc::SA_ONSTACK;
        libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
    }
}

#[cfg(not(unix))]
fn alternate_signal_stack() {}
