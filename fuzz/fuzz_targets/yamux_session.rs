#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rhizome_fuzz_targets::run("yamux_session", data);
});
