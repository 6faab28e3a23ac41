//! Fingerprints of how each year is counted, so that a later run can tell
//! which years' holiday data changed (and so which deadlines may move).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;

use super::Calendar;

impl Calendar {
    /// A fingerprint of how `year` is counted: its status, its days off and
    /// make-up days, the zone and the working week. It is FNV-1a, the same
    /// in every build and run, so it can be stored and compared later: a
    /// year whose fingerprint changed may have moved deadlines.
    pub fn year_fingerprint(&self, year: i32) -> u64 {
        let mut h = Fnv::default();
        h.write(self.tz.name().as_bytes());
        h.write(&self.weekly.map(u8::from));
        for p in &self.periods {
            h.write(&p.start.to_le_bytes());
            h.write(&p.end.to_le_bytes());
        }
        h.write(self.year_status(year).as_str().as_bytes());
        for (tag, dates) in
            [(b'h', self.days_off_in(year).collect::<Vec<_>>()), (b'w', self.workdays_in(year).collect())]
        {
            for d in dates {
                h.write(&[tag]);
                h.write(&d.num_days_from_ce().to_le_bytes());
            }
        }
        h.0
    }

    /// The fingerprint of every year the holiday data or the statutory table
    /// reach, by year. Years outside are counted by the weekly pattern alone.
    pub fn fingerprints(&self) -> BTreeMap<i32, u64> {
        let known = self.years.iter().chain(&self.provisional);
        let (Some(&first), Some(&last)) = (known.clone().min(), known.max()) else {
            return BTreeMap::new();
        };
        (first..=last).map(|y| (y, self.year_fingerprint(y))).collect()
    }

    /// The years whose counting differs from `stored` (an earlier
    /// [`Calendar::fingerprints`]): changed, added or gone.
    pub fn changed_years(&self, stored: &BTreeMap<i32, u64>) -> BTreeSet<i32> {
        let now = self.fingerprints();
        now.keys().chain(stored.keys()).copied().filter(|y| now.get(y) != stored.get(y)).collect()
    }
}

/// FNV-1a, 64 bits: a hash that does not change between builds.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
