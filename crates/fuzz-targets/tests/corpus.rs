//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) and a few thousand
//! random inputs per target, on stable Rust: a crash fixed once never returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use rhizome_fuzz_targets::{TARGETS, run};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_target_has_a_seed_corpus_and_replays_it() {
    for (name, target) in TARGETS {
        let dir = corpus_dir().join(name);
        let entries: Vec<_> =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("no corpus for {name} at {}: {e}", dir.display())).collect();
        assert!(!entries.is_empty(), "empty corpus for {name}");
        for entry in entries {
            let path = entry.unwrap().path();
            target(&std::fs::read(&path).unwrap());
        }
    }
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    if let Ok(dir) = std::fs::read_dir(artifacts) {
        for entry in dir {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // regressions/<target>-<anything>
            let target = TARGETS.iter().map(|(n, _)| *n).filter(|n| name.starts_with(n)).max_by_key(|n| n.len()).unwrap();
            assert!(run(target, &std::fs::read(&path).unwrap()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_inputs_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (_, target) in TARGETS {
            target(&data);
        }
    }
}
