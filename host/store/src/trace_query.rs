//! Finding events in a tenant's trace log: a [`TraceFilter`] (time range,
//! sequence range, agent, tool, verdict, pack, decision and request ids,
//! kind, class) becomes one portable `$n` query over the query columns,
//! paged by sequence number. Every value is a bound parameter.

use super::trace::{SELECT_ROW, StoredRow, class_key, parse_class, stored_row};
use super::{Store, StoreError};
use sqlx::Row;
use warden_host::Verdict;
use warden_trace::EventClass;

/// A bad filter value; the message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Not an RFC 3339 time.
    #[error(
        "`{param}` must be an RFC 3339 time with an offset, like `2025-01-31T09:00:00Z`, got `{value}`"
    )]
    Time {
        /// The parameter.
        param: &'static str,
        /// What was given.
        value: String,
    },
    /// Not a sequence number.
    #[error("`{param}` must be a sequence number (1 or more), got `{value}`")]
    Seq {
        /// The parameter.
        param: &'static str,
        /// What was given.
        value: String,
    },
    /// Not a verdict.
    #[error("`verdict` must be `allow`, `deny` or `escalate`, got `{0}`")]
    Verdict(String),
    /// Not a retention class.
    #[error("`class` must be `financial`, `read-only`, `action` or `admin`, got `{0}`")]
    Class(String),
    /// Not `name` or `name@version`.
    #[error("`pack` must be a pack name or `name@version` (a semver version), got `{0}`")]
    Pack(String),
    /// An empty value.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A range that ends before it starts.
    #[error("`{upper}` must be {rule} `{lower}`")]
    Range {
        /// The lower bound's parameter.
        lower: &'static str,
        /// The upper bound's parameter.
        upper: &'static str,
        /// `after` (half-open time ranges) or `at or after` (sequence ranges).
        rule: &'static str,
    },
}

impl FilterError {
    /// The parameter the error is about.
    pub fn parameter(&self) -> &'static str {
        match self {
            FilterError::Time { param, .. } | FilterError::Seq { param, .. } => param,
            FilterError::Verdict(_) => "verdict",
            FilterError::Class(_) => "class",
            FilterError::Pack(_) => "pack",
            FilterError::Empty(p) => p,
            FilterError::Range { upper, .. } => upper,
        }
    }
}

/// Which pack served: any version of it, or one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFilter {
    /// Pack name.
    pub name: String,
    /// An exact version, or any.
    pub version: Option<String>,
}

impl PackFilter {
    /// Parses `name` or `name@version`.
    pub fn parse(s: &str) -> Result<PackFilter, FilterError> {
        let bad = || FilterError::Pack(s.to_owned());
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(bad());
        }
        if let Some(v) = version {
            semver::Version::parse(v).map_err(|_| bad())?;
        }
        Ok(PackFilter {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// The substring of the ` a@1 b@2 ` column that marks a match.
    fn needle(&self) -> String {
        match &self.version {
            Some(v) => format!(" {}@{v} ", self.name),
            None => format!(" {}@", self.name),
        }
    }
}

/// What to look for; every filter is optional and they combine with AND.
/// Time bounds are half-open (`from_ms <= at_ms < to_ms`), sequence bounds
/// inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Appended at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Appended before (Unix ms).
    pub to_ms: Option<i64>,
    /// Lowest sequence number.
    pub from_seq: Option<u64>,
    /// Highest sequence number.
    pub to_seq: Option<u64>,
    /// The principal's agent (decisions).
    pub agent: Option<String>,
    /// The tool called (decisions).
    pub tool: Option<String>,
    /// The verdict (decisions).
    pub verdict: Option<Verdict>,
    /// A pack that served (decisions).
    pub pack: Option<PackFilter>,
    /// The decision id.
    pub decision_id: Option<String>,
    /// The request (run) id.
    pub request_id: Option<String>,
    /// The event kind (`decision`, `configuration`, `tenant-created`, ...).
    pub kind: Option<String>,
    /// The retention class.
    pub class: Option<EventClass>,
}

/// Parses an RFC 3339 time (`Z` or a `±hh:mm` offset, any fraction of a
/// second) to Unix ms; `param` names it in the error.
pub fn parse_time(param: &'static str, s: &str) -> Result<i64, FilterError> {
    let bad = || FilterError::Time {
        param,
        value: s.to_owned(),
    };
    let (base, offset_min) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (b, 0i64)
    } else {
        let split = s.len().checked_sub(6).ok_or_else(bad)?;
        let (b, off) = (
            s.get(..split).ok_or_else(bad)?,
            s.get(split..).ok_or_else(bad)?,
        );
        let o = off.as_bytes();
        let digits = |i: usize| -> Option<i64> {
            let (a, b) = (o.get(i)?, o.get(i + 1)?);
            (a.is_ascii_digit() && b.is_ascii_digit())
                .then(|| i64::from((a - b'0') * 10 + (b - b'0')))
        };
        let sign = match o[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(bad()),
        };
        match (digits(1), o[3], digits(4)) {
            (Some(h), b':', Some(m)) if h <= 23 && m <= 59 => (b, sign * (h * 60 + m)),
            _ => return Err(bad()),
        }
    };
    if !matches!(base.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(bad());
    }
    let local = local_ms(base).ok_or_else(bad)?;
    Ok(local - offset_min * 60_000)
}

/// Milliseconds since 1970 of an RFC 3339 `full-date "T" partial-time`
/// read as UTC: years 0000 to 9999, a leap second (`:60`) as the second
/// before the next minute, any number of fraction digits (truncated to ms).
fn local_ms(base: &str) -> Option<i64> {
    let b = base.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(mo - 1).ok()?)?;
    if d < 1 || d > max_day || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let ms = match b.get(19) {
        None => 0,
        Some(b'.') => {
            let frac = b.get(20..)?;
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            frac.iter()
                .take(3)
                .chain(std::iter::repeat_n(
                    &b'0',
                    3usize.saturating_sub(frac.len()),
                ))
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
        }
        Some(_) => return None,
    };
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    // days_from_civil).
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec.min(59);
    let leap_second = if sec == 60 { 999 } else { 0 };
    Some(secs * 1000 + ms.max(leap_second))
}

/// Parses a sequence number (1 or more).
pub fn parse_seq(param: &'static str, s: &str) -> Result<u64, FilterError> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n >= 1 && i64::try_from(*n).is_ok())
        .ok_or_else(|| FilterError::Seq {
            param,
            value: s.to_owned(),
        })
}

/// A non-empty text filter.
pub fn parse_text(param: &'static str, s: &str) -> Result<String, FilterError> {
    if s.is_empty() {
        Err(FilterError::Empty(param))
    } else {
        Ok(s.to_owned())
    }
}

/// Parses a verdict filter: `allow`, `deny` or `escalate`.
pub fn parse_verdict(s: &str) -> Result<Verdict, FilterError> {
    match s {
        "allow" => Ok(Verdict::Allow),
        "deny" => Ok(Verdict::Deny),
        "escalate" => Ok(Verdict::Escalate),
        _ => Err(FilterError::Verdict(s.to_owned())),
    }
}

/// Parses a class filter: `financial`, `read-only`, `action` or `admin`.
pub fn parse_class_filter(s: &str) -> Result<EventClass, FilterError> {
    parse_class(s).ok_or_else(|| FilterError::Class(s.to_owned()))
}

impl TraceFilter {
    /// Checks that the ranges do not end before they start.
    pub fn check_ranges(&self) -> Result<(), FilterError> {
        if let (Some(a), Some(b)) = (self.from_ms, self.to_ms)
            && b <= a
        {
            return Err(FilterError::Range {
                lower: "from",
                upper: "to",
                rule: "after",
            });
        }
        if let (Some(a), Some(b)) = (self.from_seq, self.to_seq)
            && b < a
        {
            return Err(FilterError::Range {
                lower: "from_seq",
                upper: "to_seq",
                rule: "at or after",
            });
        }
        Ok(())
    }
}

/// A bound value.
enum Arg {
    Text(String),
    Int(i64),
}

fn seq_arg(n: u64) -> Arg {
    Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `SELECT ... WHERE tenant = $1 AND seq > $2 AND <filters> ORDER BY seq LIMIT $n`
/// and its arguments, in order.
fn select(tenant: &str, f: &TraceFilter, after_seq: u64, limit: i64) -> (String, Vec<Arg>) {
    let mut sql = format!("{SELECT_ROW} WHERE tenant = $1 AND seq > $2");
    let mut args = vec![Arg::Text(tenant.to_owned()), seq_arg(after_seq)];
    let mut cond = |sql_cond: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(" AND ");
        sql.push_str(&sql_cond.replace("$?", &format!("${}", args.len())));
    };
    if let Some(v) = f.from_ms {
        cond("at_ms >= $?", Arg::Int(v));
    }
    if let Some(v) = f.to_ms {
        cond("at_ms < $?", Arg::Int(v));
    }
    if let Some(v) = f.from_seq {
        cond("seq >= $?", seq_arg(v));
    }
    if let Some(v) = f.to_seq {
        cond("seq <= $?", seq_arg(v));
    }
    for (col, v) in [
        ("agent", f.agent.as_deref()),
        ("tool", f.tool.as_deref()),
        ("verdict", f.verdict.map(Verdict::as_str)),
        ("decision_id", f.decision_id.as_deref()),
        ("request_id", f.request_id.as_deref()),
        ("kind", f.kind.as_deref()),
        ("class", f.class.map(class_key)),
    ] {
        if let Some(v) = v {
            cond(&format!("{col} = $?"), Arg::Text(v.to_owned()));
        }
    }
    if let Some(p) = &f.pack {
        // A case-sensitive substring test that reads the same on SQLite and
        // PostgreSQL (SQLite's LIKE ignores ASCII case; `_` is a wildcard).
        cond("REPLACE(packs, $?, '') <> packs", Arg::Text(p.needle()));
    }
    args.push(Arg::Int(limit));
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", args.len()));
    (sql, args)
}

impl Store {
    /// Up to `limit` rows of `tenant`'s log after `after_seq` that match
    /// `filter`, in sequence order.
    pub async fn trace_query(
        &self,
        tenant: &str,
        filter: &TraceFilter,
        after_seq: u64,
        limit: i64,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (sql, args) = select(tenant, filter, after_seq, limit);
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(stored_row).collect()
    }

    /// The first and last sequence numbers of events appended in
    /// `[from_ms, to_ms)`, if any: the contiguous stretch of the log that
    /// covers that time.
    pub async fn trace_seq_span(
        &self,
        tenant: &str,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let r = sqlx::query(
            "SELECT MIN(seq), MAX(seq) FROM trace_events \
             WHERE tenant = $1 AND at_ms >= $2 AND at_ms < $3",
        )
        .bind(tenant)
        .bind(from_ms.unwrap_or(i64::MIN))
        .bind(to_ms.unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        let lo: Option<i64> = r.try_get(0)?;
        let hi: Option<i64> = r.try_get(1)?;
        Ok(lo.zip(hi).map(|(lo, hi)| {
            (
                u64::try_from(lo).unwrap_or(0),
                u64::try_from(hi).unwrap_or(0),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets_and_fractions() {
        assert_eq!(parse_time("from", "1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_time("from", "1970-01-01t00:00:01.5z"), Ok(1500));
        assert_eq!(
            parse_time("from", "2023-11-14T23:13:20+01:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("to", "2023-11-14T21:43:20.250-00:30"),
            Ok(1_700_000_000_250)
        );
        // Every RFC 3339 time: before 1970, year 0, a leap second, 29 February.
        assert_eq!(parse_time("from", "1969-12-31T23:59:59Z"), Ok(-1000));
        assert_eq!(
            parse_time("from", "0000-01-01T00:00:00Z"),
            Ok(-62_167_219_200_000)
        );
        assert_eq!(
            parse_time("from", "2016-12-31T23:59:60Z"),
            Ok(1_483_228_799_999)
        );
        assert_eq!(
            parse_time("from", "2024-02-29T00:00:00.123456789Z"),
            Ok(1_709_164_800_123)
        );
        for bad in [
            "",
            "1700000000000",
            "2023-02-29T00:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20+1:00",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20+24:00",
            "ü023-11-14T22:13:20+00:00",
        ] {
            let e = parse_time("from", bad).unwrap_err();
            assert_eq!(e.parameter(), "from", "{bad}");
            assert!(e.to_string().starts_with("`from` must be"), "{e}");
        }
    }

    #[test]
    fn pack_filters() {
        assert_eq!(
            PackFilter::parse("treasury@1.0.0").map(|p| p.needle()),
            Ok(" treasury@1.0.0 ".to_owned())
        );
        assert_eq!(
            PackFilter::parse("pii_strict").map(|p| p.needle()),
            Ok(" pii_strict@".to_owned())
        );
        for bad in ["", "@1.0.0", "Treasury", "treasury@", "treasury@1.0", "a b"] {
            assert_eq!(
                PackFilter::parse(bad),
                Err(FilterError::Pack(bad.to_owned()))
            );
        }
    }

    #[test]
    fn filters_become_bound_parameters() {
        let f = TraceFilter {
            agent: Some("x' OR 1=1 --".to_owned()),
            pack: PackFilter::parse("treasury").ok(),
            from_ms: Some(5),
            ..TraceFilter::default()
        };
        let (sql, args) = select("acme", &f, 0, 10);
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(
            sql.ends_with(
                "seq > $2 AND at_ms >= $3 AND agent = $4 AND REPLACE(packs, $5, '') <> packs \
                 ORDER BY seq LIMIT $6"
            ),
            "{sql}"
        );
        assert_eq!(args.len(), 6);
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(
            parse_seq("from_seq", "0").unwrap_err().parameter(),
            "from_seq"
        );
        assert!(parse_seq("from_seq", "-1").is_err());
        assert_eq!(parse_seq("to_seq", "7"), Ok(7));
        assert_eq!(parse_verdict("maybe").unwrap_err().parameter(), "verdict");
        assert_eq!(parse_verdict("escalate"), Ok(Verdict::Escalate));
        assert_eq!(parse_class_filter("read-only"), Ok(EventClass::ReadOnly));
        assert_eq!(
            parse_class_filter("secret").unwrap_err().parameter(),
            "class"
        );
        assert_eq!(
            parse_text("agent", "").unwrap_err().to_string(),
            "`agent` must not be empty"
        );
        let f = TraceFilter {
            from_ms: Some(10),
            to_ms: Some(10),
            ..TraceFilter::default()
        };
        assert_eq!(f.check_ranges().unwrap_err().parameter(), "to");
    }
}
