//! Times as ext4 stores them: seconds and nanoseconds since the epoch, and
//! their calendar form for listings.

/// A point in time: seconds since the Unix epoch (may be negative) and
/// nanoseconds within that second.
///
/// # Examples
///
/// ```
/// use blockimg::tree::Timestamp;
///
/// let t = Timestamp { secs: 1_700_000_000, nanos: 500_000_000 };
/// assert!(t > Timestamp::from_secs(1_700_000_000)); // ordered by time
/// assert_eq!(t.utc().year, 2023);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// A timestamp at a whole second.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let t = Timestamp::from_secs(1_700_000_000);
    /// assert_eq!((t.secs, t.nanos), (1_700_000_000, 0));
    /// ```
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }

    /// The current time from the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// assert!(Timestamp::now() > Timestamp::from_secs(1_700_000_000));
    /// ```
    pub fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: now.as_secs() as i64,
            nanos: now.subsec_nanos(),
        }
    }

    /// The earlier of `self` and `limit` (used to clamp times to
    /// `SOURCE_DATE_EPOCH`).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let epoch = Timestamp::from_secs(1_700_000_000);
    /// assert_eq!(Timestamp::now().clamp_to(epoch), epoch);
    /// assert_eq!(Timestamp::from_secs(5).clamp_to(epoch), Timestamp::from_secs(5));
    /// ```
    pub fn clamp_to(self, limit: Timestamp) -> Self {
        self.min(limit)
    }

    /// The calendar date and time of day in UTC (proleptic Gregorian).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let t = Timestamp::from_secs(1_700_000_000).utc();
    /// assert_eq!((t.year, t.month, t.day), (2023, 11, 14));
    /// assert_eq!((t.hour, t.minute, t.second), (22, 13, 20));
    /// ```
    pub fn utc(self) -> UtcTime {
        let (days, rem) = (self.secs.div_euclid(86_400), self.secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month: month as u32,
            day: day as u32,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }
}

/// A [`Timestamp`]'s date and time of day in UTC.
///
/// # Examples
///
/// ```
/// use blockimg::tree::Timestamp;
///
/// let t = Timestamp::from_secs(0).utc();
/// assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (may be before 1970 or after 9999).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

/// Year, month and day of `days` since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
