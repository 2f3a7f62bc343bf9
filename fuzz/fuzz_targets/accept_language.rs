#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tailor_fuzz::prepare();
    tailor::fuzzing::accept_language(data);
});
