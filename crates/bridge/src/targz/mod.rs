//! Reusable tar.gz producer, the archive rules, and the hostile-archive-safe consumer (files
//! archive/extract, data export/import). Producer and consumer are synchronous over
//! `Write`/`Read`; callers stream them through bounded channels from blocking threads, so
//! memory stays constant. The rules are pure, so the host's import validation uses them too.

mod consume;
mod produce;
pub mod rules;

pub use consume::{extract_targz, extract_targz_under, extract_zip, Counts, Meta, SafeDest};
pub use produce::{plan, source_total, write_targz, write_targz_counted, Summary};
