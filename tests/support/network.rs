//! The demo network's addresses made private to one test or benchmark run,
//! so runs share the lab without meeting. Included by `tests/api` and
//! `benches/lab` (`#[path]`), which cannot depend on each other.

/// The demo network's addresses, made private by a prefix.
#[derive(Clone)]
pub struct Network {
    /// Put before every localpart.
    pub prefix: String,
}

impl Network {
    pub fn addr(&self, local: &str, domain: &str) -> String {
        format!("{}-{local}@{domain}", self.prefix)
    }
    pub fn hq(&self, local: &str) -> String {
        self.addr(local, "hq.example.test")
    }
    pub fn station(&self, code: &str) -> String {
        self.addr(&format!("station-{}", code.to_ascii_lowercase()), "stations.example.test")
    }
}
