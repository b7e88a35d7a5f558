//! Reusable tar.gz producer and hostile-archive-safe consumer (files archive/extract, data
//! export/import). Both are synchronous over `Write`/`Read`; callers stream them through bounded
//! channels from blocking threads, so memory stays constant.

mod consume;
mod produce;

pub use consume::{extract_targz, extract_zip, Counts, SafeDest};
pub use produce::{plan, source_total, write_targz, write_targz_counted, Summary};
