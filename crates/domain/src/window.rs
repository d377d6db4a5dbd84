//! Daily sending windows in an IANA time zone ("Monday to Friday, 09:00 to 18:00 in
//! America/Guayaquil"), and the time zone most people of a country live in.
//!
//! A [`Window`] names local wall-clock times and the local weekdays on which it *starts*; a
//! window whose end is not after its start crosses midnight (22:00–06:00 on Friday runs from
//! Friday 22:00 to Saturday 06:00). A [`SendingWindow`] places it in a zone and answers, for
//! any instant, whether sending is allowed and the exact instant that next changes.
//!
//! Daylight saving time: a local start or end that does not exist (the spring-forward gap)
//! stands for the first instant after the gap; one that exists twice (the fall-back repeat)
//! stands for the earlier of the two, for the start and the end alike. So on a day whose
//! clocks change, a window lasts as many real hours as those rules give (09:00–18:00 is 9 h
//! either way, 01:30–02:30 in New York on the spring-forward day is 30 min).
//!
//! Instants are [`Millis`], milliseconds since the Unix epoch (UTC).

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration as TimeDelta, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

const MINUTES_PER_DAY: u16 = 24 * 60;
const ALL_DAYS: u8 = 0b111_1111;
const MS_PER_DAY: Millis = 86_400_000;

/// What an always-open window (00:00–24:00 on every day) reports as `closes_at`: `now` plus
/// this, 7 days, so that callers simply check again then.
pub const ALWAYS_OPEN_RECHECK_MS: Millis = 7 * MS_PER_DAY;

/// Local days searched before and after the day of `now` for the windows around it. A window
/// runs at least once a week, and a run of touching windows lasts at most six days, so 16
/// days ahead leave room for a week whose only window a clock change swallowed whole.
const DAYS_BEHIND: i64 = 2;
const DAYS_AHEAD: i64 = 16;

/// Why a time zone or a window was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?}; use an IANA name such as America/Guayaquil or Europe/Madrid")]
    UnknownZone(String),
    #[error("window.start must be HH:MM from 00:00 to 23:59, got {0:?}")]
    BadStart(String),
    #[error("window.end must be HH:MM from 00:00 to 24:00, got {0:?}")]
    BadEnd(String),
    #[error("window.days must be 1 (Monday) to 7 (Sunday), got {0}")]
    BadDay(u8),
    #[error("window.start and window.end must differ")]
    EmptyWindow,
}

/// Parses an IANA time zone name (`America/Guayaquil`, `Europe/Madrid`, `UTC`), exactly as
/// the tz database spells it, surrounding spaces aside.
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name.trim()).map_err(|_| ScheduleError::UnknownZone(name.to_string()))
}

/// A daily window of local wall-clock time on some weekdays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Minutes after local midnight, 0..1440.
    start: u16,
    /// Minutes after local midnight, 0..=1440; not after `start` means the next day.
    end: u16,
    /// Bit `n` set: the window starts on ISO weekday `n + 1` (bit 0 Monday, bit 6 Sunday).
    days: u8,
}

impl Window {
    /// `start`/`end` "HH:MM" (24h, 00:00..23:59; end "24:00" allowed meaning midnight); days ISO 1..=7, non-empty,
    /// duplicates ok; empty `days` slice means every day.
    ///
    /// An end not after the start crosses midnight: `("22:00", "06:00")` runs into the next
    /// day, and so do `("09:00", "00:00")` and `("09:00", "24:00")`, which mean the same. A
    /// single-digit hour (`"9:00"`) is accepted too.
    pub fn parse(start: &str, end: &str, days: &[u8]) -> Result<Window, ScheduleError> {
        let start_min = parse_hhmm(start)
            .filter(|m| *m < MINUTES_PER_DAY)
            .ok_or_else(|| ScheduleError::BadStart(start.to_string()))?;
        let end_min = parse_hhmm(end)
            .filter(|m| *m <= MINUTES_PER_DAY)
            .ok_or_else(|| ScheduleError::BadEnd(end.to_string()))?;
        if start_min == end_min || (start_min == 0 && end_min == 0) {
            return Err(ScheduleError::EmptyWindow);
        }
        let mut mask = 0u8;
        for &day in days {
            if !(1..=7).contains(&day) {
                return Err(ScheduleError::BadDay(day));
            }
            mask |= 1 << (day - 1);
        }
        if mask == 0 {
            mask = ALL_DAYS;
        }
        Ok(Window {
            start: start_min,
            end: end_min,
            days: mask,
        })
    }

    /// Minutes after local midnight at which the window opens (0..1440).
    pub fn start_minute(&self) -> u16 {
        self.start
    }

    /// Minutes after local midnight at which the window closes (0..=1440); see
    /// [`Window::crosses_midnight`].
    pub fn end_minute(&self) -> u16 {
        self.end
    }

    /// Whether the window ends on the local day after the one it starts on.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start || self.end == MINUTES_PER_DAY
    }

    /// The ISO weekdays (1 Monday … 7 Sunday) on which the window starts, ascending.
    pub fn days(&self) -> Vec<u8> {
        (1..=7).filter(|d| self.days & (1 << (d - 1)) != 0).collect()
    }

    /// The start as "HH:MM".
    pub fn start_hhmm(&self) -> String {
        format_hhmm(self.start)
    }

    /// The end as "HH:MM" ("24:00" when it was given so).
    pub fn end_hhmm(&self) -> String {
        format_hhmm(self.end)
    }

    /// 00:00–24:00 on every day: never closes.
    pub fn is_always_open(&self) -> bool {
        self.start == 0 && self.end == MINUTES_PER_DAY && self.days == ALL_DAYS
    }

    fn starts_on(&self, date: NaiveDate) -> bool {
        self.days & (1 << date.weekday().num_days_from_monday()) != 0
    }
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn format_hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Whether sending is allowed at some instant, and the exact instant that next changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Sending is allowed until `closes_at` (excluded).
    Open { closes_at: Millis },
    /// Sending is not allowed until `opens_at` (included).
    Closed { opens_at: Millis },
}

impl WindowState {
    /// Whether sending is allowed.
    pub fn is_open(&self) -> bool {
        matches!(self, WindowState::Open { .. })
    }

    /// The instant the state next changes.
    pub fn changes_at(&self) -> Millis {
        match *self {
            WindowState::Open { closes_at } => closes_at,
            WindowState::Closed { opens_at } => opens_at,
        }
    }
}

/// A [`Window`] in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct SendingWindow {
    pub zone: Tz,
    pub window: Window,
}

impl SendingWindow {
    /// Parses a zone name and a window (see [`parse_zone`] and [`Window::parse`]).
    pub fn parse(zone: &str, start: &str, end: &str, days: &[u8]) -> Result<SendingWindow, ScheduleError> {
        Ok(SendingWindow {
            zone: parse_zone(zone)?,
            window: Window::parse(start, end, days)?,
        })
    }

    /// Whether sending is allowed at `now`, and when that next changes.
    ///
    /// Windows that touch (00:00–24:00 on Monday and on Tuesday) count as one: no close is
    /// reported at the boundary. A window that is always open (00:00–24:00 every day) reports
    /// `closes_at = now + 7 days` ([`ALWAYS_OPEN_RECHECK_MS`]); callers simply check again
    /// then. An instant outside chrono's range (beyond ±262,000 years) reports
    /// `Closed { opens_at: Millis::MAX }`.
    pub fn state_at(&self, now: Millis) -> WindowState {
        if self.window.is_always_open() {
            return WindowState::Open {
                closes_at: now.saturating_add(ALWAYS_OPEN_RECHECK_MS),
            };
        }
        let never = WindowState::Closed { opens_at: Millis::MAX };
        let Some(runs) = self.runs_around(now) else {
            return never;
        };
        match runs.into_iter().find(|&(_, end)| end > now) {
            Some((start, end)) if start <= now => WindowState::Open { closes_at: end },
            Some((start, _)) => WindowState::Closed { opens_at: start },
            // No window for 16 days: clock-change gaps would have to swallow every one.
            None => never,
        }
    }

    /// The windows that start from two local days before `now` to 16 after, as half-open
    /// instants, touching ones merged, ascending; empty ones (swallowed by a gap) left out.
    fn runs_around(&self, now: Millis) -> Option<Vec<(Millis, Millis)>> {
        let utc = DateTime::from_timestamp_millis(now)?;
        let today = self.zone.from_utc_datetime(&utc.naive_utc()).date_naive();
        let (start_min, end_min) = (self.window.start, self.window.end);
        // An end not after the start is on the next day.
        let next_day = if end_min <= start_min { MINUTES_PER_DAY } else { 0 };
        let end_offset = i64::from(end_min) + i64::from(next_day);
        let mut runs: Vec<(Millis, Millis)> = Vec::new();
        for offset in -DAYS_BEHIND..=DAYS_AHEAD {
            let date = today.checked_add_signed(TimeDelta::days(offset))?;
            if !self.window.starts_on(date) {
                continue;
            }
            let midnight = date.and_hms_opt(0, 0, 0)?;
            let start = resolve(
                self.zone,
                midnight.checked_add_signed(TimeDelta::minutes(start_min.into()))?,
            )?;
            let end = resolve(self.zone, midnight.checked_add_signed(TimeDelta::minutes(end_offset))?)?;
            if end <= start {
                continue;
            }
            match runs.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => runs.push((start, end)),
            }
        }
        Some(runs)
    }
}

/// The instant a local wall-clock time in `zone` stands for: the only one; the earlier of two
/// (fall-back repeat); or, for a time that does not exist (spring-forward gap), the first
/// instant after the gap.
fn resolve(zone: Tz, local: NaiveDateTime) -> Option<Millis> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.timestamp_millis()),
        LocalResult::Ambiguous(a, b) => Some(a.timestamp_millis().min(b.timestamp_millis())),
        LocalResult::None => after_gap(zone, local),
    }
}

/// The first instant whose local time is at or after `local`, found by bisection over whole
/// seconds (offsets and transitions are whole seconds). Local time is taken to move forward
/// over the day either side, that is, no two clock changes within a day of each other.
fn after_gap(zone: Tz, local: NaiveDateTime) -> Option<Millis> {
    let local_at = |secs: i64| -> Option<NaiveDateTime> {
        let utc = DateTime::from_timestamp(secs, 0)?;
        Some(zone.from_utc_datetime(&utc.naive_utc()).naive_local())
    };
    let guess = local.and_utc().timestamp();
    // UTC offsets stay well within a day, so `lo` reads before `local` and `hi` after it.
    let (mut lo, mut hi) = (guess - 86_400, guess + 86_400);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi.checked_mul(1000)
}

/// The IANA zone most people of a country (ISO 3166 alpha-2, e.g. "EC", "ES", "US") live in; None for unknown codes.
///
/// Case-insensitive, surrounding spaces aside. Covers every code of ISO 3166-1 (countries and
/// territories, as the tz database lists them) and `XK` (Kosovo). For a country with several
/// zones it is the one where most people live (US → America/New_York, BR →
/// America/Sao_Paulo, RU → Europe/Moscow, …): a default to offer, not a fact about a person.
pub fn zone_for_region(region: &str) -> Option<Tz> {
    let code = region.trim().to_ascii_uppercase();
    REGION_ZONES
        .binary_search_by(|(c, _)| (*c).cmp(code.as_str()))
        .ok()
        .map(|i| REGION_ZONES[i].1)
}

/// ISO 3166-1 alpha-2 code → zone, sorted by code. Single-zone countries take their zone from
/// the tz database's zone.tab; the others name the zone where most people live.
static REGION_ZONES: &[(&str, Tz)] = &[
    ("AD", Tz::Europe__Andorra),                  // Andorra
    ("AE", Tz::Asia__Dubai),                      // United Arab Emirates
    ("AF", Tz::Asia__Kabul),                      // Afghanistan
    ("AG", Tz::America__Antigua),                 // Antigua & Barbuda
    ("AI", Tz::America__Anguilla),                // Anguilla
    ("AL", Tz::Europe__Tirane),                   // Albania
    ("AM", Tz::Asia__Yerevan),                    // Armenia
    ("AO", Tz::Africa__Luanda),                   // Angola
    ("AQ", Tz::Antarctica__McMurdo),              // Antarctica (most populous of 10 zones)
    ("AR", Tz::America__Argentina__Buenos_Aires), // Argentina (most populous of 12 zones)
    ("AS", Tz::Pacific__Pago_Pago),               // Samoa (American)
    ("AT", Tz::Europe__Vienna),                   // Austria
    ("AU", Tz::Australia__Sydney),                // Australia (most populous of 12 zones)
    ("AW", Tz::America__Aruba),                   // Aruba
    ("AX", Tz::Europe__Mariehamn),                // Åland Islands
    ("AZ", Tz::Asia__Baku),                       // Azerbaijan
    ("BA", Tz::Europe__Sarajevo),                 // Bosnia & Herzegovina
    ("BB", Tz::America__Barbados),                // Barbados
    ("BD", Tz::Asia__Dhaka),                      // Bangladesh
    ("BE", Tz::Europe__Brussels),                 // Belgium
    ("BF", Tz::Africa__Ouagadougou),              // Burkina Faso
    ("BG", Tz::Europe__Sofia),                    // Bulgaria
    ("BH", Tz::Asia__Bahrain),                    // Bahrain
    ("BI", Tz::Africa__Bujumbura),                // Burundi
    ("BJ", Tz::Africa__PortoNovo),                // Benin
    ("BL", Tz::America__St_Barthelemy),           // St Barthelemy
    ("BM", Tz::Atlantic__Bermuda),                // Bermuda
    ("BN", Tz::Asia__Brunei),                     // Brunei
    ("BO", Tz::America__La_Paz),                  // Bolivia
    ("BQ", Tz::America__Kralendijk),              // Caribbean NL
    ("BR", Tz::America__Sao_Paulo),               // Brazil (most populous of 16 zones)
    ("BS", Tz::America__Nassau),                  // Bahamas
    ("BT", Tz::Asia__Thimphu),                    // Bhutan
    ("BV", Tz::Etc__UTC),                         // Bouvet Island (uninhabited)
    ("BW", Tz::Africa__Gaborone),                 // Botswana
    ("BY", Tz::Europe__Minsk),                    // Belarus
    ("BZ", Tz::America__Belize),                  // Belize
    ("CA", Tz::America__Toronto),                 // Canada (most populous of 23 zones)
    ("CC", Tz::Indian__Cocos),                    // Cocos (Keeling) Islands
    ("CD", Tz::Africa__Kinshasa),                 // Congo (Dem. Rep.) (most populous of 2 zones)
    ("CF", Tz::Africa__Bangui),                   // Central African Rep.
    ("CG", Tz::Africa__Brazzaville),              // Congo (Rep.)
    ("CH", Tz::Europe__Zurich),                   // Switzerland
    ("CI", Tz::Africa__Abidjan),                  // Côte d'Ivoire
    ("CK", Tz::Pacific__Rarotonga),               // Cook Islands
    ("CL", Tz::America__Santiago),                // Chile (most populous of 4 zones)
    ("CM", Tz::Africa__Douala),                   // Cameroon
    ("CN", Tz::Asia__Shanghai),                   // China (most populous of 2 zones)
    ("CO", Tz::America__Bogota),                  // Colombia
    ("CR", Tz::America__Costa_Rica),              // Costa Rica
    ("CU", Tz::America__Havana),                  // Cuba
    ("CV", Tz::Atlantic__Cape_Verde),             // Cape Verde
    ("CW", Tz::America__Curacao),                 // Curaçao
    ("CX", Tz::Indian__Christmas),                // Christmas Island
    ("CY", Tz::Asia__Nicosia),                    // Cyprus (most populous of 2 zones)
    ("CZ", Tz::Europe__Prague),                   // Czech Republic
    ("DE", Tz::Europe__Berlin),                   // Germany (most populous of 2 zones)
    ("DJ", Tz::Africa__Djibouti),                 // Djibouti
    ("DK", Tz::Europe__Copenhagen),               // Denmark
    ("DM", Tz::America__Dominica),                // Dominica
    ("DO", Tz::America__Santo_Domingo),           // Dominican Republic
    ("DZ", Tz::Africa__Algiers),                  // Algeria
    ("EC", Tz::America__Guayaquil),               // Ecuador (most populous of 2 zones)
    ("EE", Tz::Europe__Tallinn),                  // Estonia
    ("EG", Tz::Africa__Cairo),                    // Egypt
    ("EH", Tz::Africa__El_Aaiun),                 // Western Sahara
    ("ER", Tz::Africa__Asmara),                   // Eritrea
    ("ES", Tz::Europe__Madrid),                   // Spain (most populous of 3 zones)
    ("ET", Tz::Africa__Addis_Ababa),              // Ethiopia
    ("FI", Tz::Europe__Helsinki),                 // Finland
    ("FJ", Tz::Pacific__Fiji),                    // Fiji
    ("FK", Tz::Atlantic__Stanley),                // Falkland Islands
    ("FM", Tz::Pacific__Chuuk),                   // Micronesia (most populous of 3 zones)
    ("FO", Tz::Atlantic__Faroe),                  // Faroe Islands
    ("FR", Tz::Europe__Paris),                    // France
    ("GA", Tz::Africa__Libreville),               // Gabon
    ("GB", Tz::Europe__London),                   // Britain (UK)
    ("GD", Tz::America__Grenada),                 // Grenada
    ("GE", Tz::Asia__Tbilisi),                    // Georgia
    ("GF", Tz::America__Cayenne),                 // French Guiana
    ("GG", Tz::Europe__Guernsey),                 // Guernsey
    ("GH", Tz::Africa__Accra),                    // Ghana
    ("GI", Tz::Europe__Gibraltar),                // Gibraltar
    ("GL", Tz::America__Nuuk),                    // Greenland (most populous of 4 zones)
    ("GM", Tz::Africa__Banjul),                   // Gambia
    ("GN", Tz::Africa__Conakry),                  // Guinea
    ("GP", Tz::America__Guadeloupe),              // Guadeloupe
    ("GQ", Tz::Africa__Malabo),                   // Equatorial Guinea
    ("GR", Tz::Europe__Athens),                   // Greece
    ("GS", Tz::Atlantic__South_Georgia),          // South Georgia & the South Sandwich Islands
    ("GT", Tz::America__Guatemala),               // Guatemala
    ("GU", Tz::Pacific__Guam),                    // Guam
    ("GW", Tz::Africa__Bissau),                   // Guinea-Bissau
    ("GY", Tz::America__Guyana),                  // Guyana
    ("HK", Tz::Asia__Hong_Kong),                  // Hong Kong
    ("HM", Tz::Indian__Kerguelen),                // Heard Island & McDonald Islands (uninhabited)
    ("HN", Tz::America__Tegucigalpa),             // Honduras
    ("HR", Tz::Europe__Zagreb),                   // Croatia
    ("HT", Tz::America__PortauPrince),            // Haiti
    ("HU", Tz::Europe__Budapest),                 // Hungary
    ("ID", Tz::Asia__Jakarta),                    // Indonesia (most populous of 4 zones)
    ("IE", Tz::Europe__Dublin),                   // Ireland
    ("IL", Tz::Asia__Jerusalem),                  // Israel
    ("IM", Tz::Europe__Isle_of_Man),              // Isle of Man
    ("IN", Tz::Asia__Kolkata),                    // India
    ("IO", Tz::Indian__Chagos),                   // British Indian Ocean Territory
    ("IQ", Tz::Asia__Baghdad),                    // Iraq
    ("IR", Tz::Asia__Tehran),                     // Iran
    ("IS", Tz::Atlantic__Reykjavik),              // Iceland
    ("IT", Tz::Europe__Rome),                     // Italy
    ("JE", Tz::Europe__Jersey),                   // Jersey
    ("JM", Tz::America__Jamaica),                 // Jamaica
    ("JO", Tz::Asia__Amman),                      // Jordan
    ("JP", Tz::Asia__Tokyo),                      // Japan
    ("KE", Tz::Africa__Nairobi),                  // Kenya
    ("KG", Tz::Asia__Bishkek),                    // Kyrgyzstan
    ("KH", Tz::Asia__Phnom_Penh),                 // Cambodia
    ("KI", Tz::Pacific__Tarawa),                  // Kiribati (most populous of 3 zones)
    ("KM", Tz::Indian__Comoro),                   // Comoros
    ("KN", Tz::America__St_Kitts),                // St Kitts & Nevis
    ("KP", Tz::Asia__Pyongyang),                  // Korea (North)
    ("KR", Tz::Asia__Seoul),                      // Korea (South)
    ("KW", Tz::Asia__Kuwait),                     // Kuwait
    ("KY", Tz::America__Cayman),                  // Cayman Islands
    ("KZ", Tz::Asia__Almaty),                     // Kazakhstan (most populous of 7 zones)
    ("LA", Tz::Asia__Vientiane),                  // Laos
    ("LB", Tz::Asia__Beirut),                     // Lebanon
    ("LC", Tz::America__St_Lucia),                // St Lucia
    ("LI", Tz::Europe__Vaduz),                    // Liechtenstein
    ("LK", Tz::Asia__Colombo),                    // Sri Lanka
    ("LR", Tz::Africa__Monrovia),                 // Liberia
    ("LS", Tz::Africa__Maseru),                   // Lesotho
    ("LT", Tz::Europe__Vilnius),                  // Lithuania
    ("LU", Tz::Europe__Luxembourg),               // Luxembourg
    ("LV", Tz::Europe__Riga),                     // Latvia
    ("LY", Tz::Africa__Tripoli),                  // Libya
    ("MA", Tz::Africa__Casablanca),               // Morocco
    ("MC", Tz::Europe__Monaco),                   // Monaco
    ("MD", Tz::Europe__Chisinau),                 // Moldova
    ("ME", Tz::Europe__Podgorica),                // Montenegro
    ("MF", Tz::America__Marigot),                 // St Martin (French)
    ("MG", Tz::Indian__Antananarivo),             // Madagascar
    ("MH", Tz::Pacific__Majuro),                  // Marshall Islands (most populous of 2 zones)
    ("MK", Tz::Europe__Skopje),                   // North Macedonia
    ("ML", Tz::Africa__Bamako),                   // Mali
    ("MM", Tz::Asia__Yangon),                     // Myanmar (Burma)
    ("MN", Tz::Asia__Ulaanbaatar),                // Mongolia (most populous of 2 zones)
    ("MO", Tz::Asia__Macau),                      // Macau
    ("MP", Tz::Pacific__Saipan),                  // Northern Mariana Islands
    ("MQ", Tz::America__Martinique),              // Martinique
    ("MR", Tz::Africa__Nouakchott),               // Mauritania
    ("MS", Tz::America__Montserrat),              // Montserrat
    ("MT", Tz::Europe__Malta),                    // Malta
    ("MU", Tz::Indian__Mauritius),                // Mauritius
    ("MV", Tz::Indian__Maldives),                 // Maldives
    ("MW", Tz::Africa__Blantyre),                 // Malawi
    ("MX", Tz::America__Mexico_City),             // Mexico (most populous of 12 zones)
    ("MY", Tz::Asia__Kuala_Lumpur),               // Malaysia (most populous of 2 zones)
    ("MZ", Tz::Africa__Maputo),                   // Mozambique
    ("NA", Tz::Africa__Windhoek),                 // Namibia
    ("NC", Tz::Pacific__Noumea),                  // New Caledonia
    ("NE", Tz::Africa__Niamey),                   // Niger
    ("NF", Tz::Pacific__Norfolk),                 // Norfolk Island
    ("NG", Tz::Africa__Lagos),                    // Nigeria
    ("NI", Tz::America__Managua),                 // Nicaragua
    ("NL", Tz::Europe__Amsterdam),                // Netherlands
    ("NO", Tz::Europe__Oslo),                     // Norway
    ("NP", Tz::Asia__Kathmandu),                  // Nepal
    ("NR", Tz::Pacific__Nauru),                   // Nauru
    ("NU", Tz::Pacific__Niue),                    // Niue
    ("NZ", Tz::Pacific__Auckland),                // New Zealand (most populous of 2 zones)
    ("OM", Tz::Asia__Muscat),                     // Oman
    ("PA", Tz::America__Panama),                  // Panama
    ("PE", Tz::America__Lima),                    // Peru
    ("PF", Tz::Pacific__Tahiti),                  // French Polynesia (most populous of 3 zones)
    ("PG", Tz::Pacific__Port_Moresby),            // Papua New Guinea (most populous of 2 zones)
    ("PH", Tz::Asia__Manila),                     // Philippines
    ("PK", Tz::Asia__Karachi),                    // Pakistan
    ("PL", Tz::Europe__Warsaw),                   // Poland
    ("PM", Tz::America__Miquelon),                // St Pierre & Miquelon
    ("PN", Tz::Pacific__Pitcairn),                // Pitcairn
    ("PR", Tz::America__Puerto_Rico),             // Puerto Rico
    ("PS", Tz::Asia__Hebron),                     // Palestine (most populous of 2 zones)
    ("PT", Tz::Europe__Lisbon),                   // Portugal (most populous of 3 zones)
    ("PW", Tz::Pacific__Palau),                   // Palau
    ("PY", Tz::America__Asuncion),                // Paraguay
    ("QA", Tz::Asia__Qatar),                      // Qatar
    ("RE", Tz::Indian__Reunion),                  // Réunion
    ("RO", Tz::Europe__Bucharest),                // Romania
    ("RS", Tz::Europe__Belgrade),                 // Serbia
    ("RU", Tz::Europe__Moscow),                   // Russia (most populous of 26 zones)
    ("RW", Tz::Africa__Kigali),                   // Rwanda
    ("SA", Tz::Asia__Riyadh),                     // Saudi Arabia
    ("SB", Tz::Pacific__Guadalcanal),             // Solomon Islands
    ("SC", Tz::Indian__Mahe),                     // Seychelles
    ("SD", Tz::Africa__Khartoum),                 // Sudan
    ("SE", Tz::Europe__Stockholm),                // Sweden
    ("SG", Tz::Asia__Singapore),                  // Singapore
    ("SH", Tz::Atlantic__St_Helena),              // St Helena
    ("SI", Tz::Europe__Ljubljana),                // Slovenia
    ("SJ", Tz::Arctic__Longyearbyen),             // Svalbard & Jan Mayen
    ("SK", Tz::Europe__Bratislava),               // Slovakia
    ("SL", Tz::Africa__Freetown),                 // Sierra Leone
    ("SM", Tz::Europe__San_Marino),               // San Marino
    ("SN", Tz::Africa__Dakar),                    // Senegal
    ("SO", Tz::Africa__Mogadishu),                // Somalia
    ("SR", Tz::America__Paramaribo),              // Suriname
    ("SS", Tz::Africa__Juba),                     // South Sudan
    ("ST", Tz::Africa__Sao_Tome),                 // Sao Tome & Principe
    ("SV", Tz::America__El_Salvador),             // El Salvador
    ("SX", Tz::America__Lower_Princes),           // St Maarten (Dutch)
    ("SY", Tz::Asia__Damascus),                   // Syria
    ("SZ", Tz::Africa__Mbabane),                  // Eswatini (Swaziland)
    ("TC", Tz::America__Grand_Turk),              // Turks & Caicos Is
    ("TD", Tz::Africa__Ndjamena),                 // Chad
    ("TF", Tz::Indian__Kerguelen),                // French S. Terr.
    ("TG", Tz::Africa__Lome),                     // Togo
    ("TH", Tz::Asia__Bangkok),                    // Thailand
    ("TJ", Tz::Asia__Dushanbe),                   // Tajikistan
    ("TK", Tz::Pacific__Fakaofo),                 // Tokelau
    ("TL", Tz::Asia__Dili),                       // East Timor
    ("TM", Tz::Asia__Ashgabat),                   // Turkmenistan
    ("TN", Tz::Africa__Tunis),                    // Tunisia
    ("TO", Tz::Pacific__Tongatapu),               // Tonga
    ("TR", Tz::Europe__Istanbul),                 // Turkey
    ("TT", Tz::America__Port_of_Spain),           // Trinidad & Tobago
    ("TV", Tz::Pacific__Funafuti),                // Tuvalu
    ("TW", Tz::Asia__Taipei),                     // Taiwan
    ("TZ", Tz::Africa__Dar_es_Salaam),            // Tanzania
    ("UA", Tz::Europe__Kyiv),                     // Ukraine (most populous of 2 zones)
    ("UG", Tz::Africa__Kampala),                  // Uganda
    ("UM", Tz::Pacific__Wake),                    // US minor outlying islands (most populous of 2 zones)
    ("US", Tz::America__New_York),                // United States (most populous of 29 zones)
    ("UY", Tz::America__Montevideo),              // Uruguay
    ("UZ", Tz::Asia__Tashkent),                   // Uzbekistan (most populous of 2 zones)
    ("VA", Tz::Europe__Vatican),                  // Vatican City
    ("VC", Tz::America__St_Vincent),              // St Vincent
    ("VE", Tz::America__Caracas),                 // Venezuela
    ("VG", Tz::America__Tortola),                 // Virgin Islands (UK)
    ("VI", Tz::America__St_Thomas),               // Virgin Islands (US)
    ("VN", Tz::Asia__Ho_Chi_Minh),                // Vietnam
    ("VU", Tz::Pacific__Efate),                   // Vanuatu
    ("WF", Tz::Pacific__Wallis),                  // Wallis & Futuna
    ("WS", Tz::Pacific__Apia),                    // Samoa (western)
    ("XK", Tz::Europe__Belgrade),                 // Kosovo (user-assigned code, used by libphonenumber)
    ("YE", Tz::Asia__Aden),                       // Yemen
    ("YT", Tz::Indian__Mayotte),                  // Mayotte
    ("ZA", Tz::Africa__Johannesburg),             // South Africa
    ("ZM", Tz::Africa__Lusaka),                   // Zambia
    ("ZW", Tz::Africa__Harare),                   // Zimbabwe
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An RFC 3339 instant as [`Millis`].
    fn at(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .timestamp_millis()
    }

    fn sending(zone: &str, start: &str, end: &str, days: &[u8]) -> SendingWindow {
        SendingWindow::parse(zone, start, end, days).expect("test window")
    }

    /// The run of the window that opens after `from`, as (opens_at, closes_at).
    fn next_run(w: &SendingWindow, from: Millis) -> (Millis, Millis) {
        let WindowState::Closed { opens_at } = w.state_at(from) else {
            panic!("expected closed at {from}: {:?}", w.state_at(from));
        };
        let WindowState::Open { closes_at } = w.state_at(opens_at) else {
            panic!("expected open at {opens_at}");
        };
        (opens_at, closes_at)
    }

    const HOUR: Millis = 3_600_000;

    #[test]
    fn parses_zones() {
        assert_eq!(parse_zone("America/Guayaquil"), Ok(Tz::America__Guayaquil));
        assert_eq!(parse_zone(" Europe/Madrid "), Ok(Tz::Europe__Madrid));
        assert_eq!(parse_zone("UTC"), Ok(Tz::UTC));
        let err = parse_zone("Mars/Base").unwrap_err();
        assert_eq!(err, ScheduleError::UnknownZone("Mars/Base".into()));
        assert!(err.to_string().starts_with("unknown time zone \"Mars/Base\""), "{err}");
    }

    #[test]
    fn parses_windows() {
        let w = Window::parse("09:00", "18:30", &[1, 2, 3, 4, 5, 5]).unwrap();
        assert_eq!((w.start_minute(), w.end_minute()), (540, 1110));
        assert_eq!(w.days(), vec![1, 2, 3, 4, 5]);
        assert!(!w.crosses_midnight());
        assert_eq!(
            (w.start_hhmm(), w.end_hhmm()),
            ("09:00".to_string(), "18:30".to_string())
        );

        let night = Window::parse("22:00", "06:00", &[5]).unwrap();
        assert!(night.crosses_midnight());
        assert_eq!(
            Window::parse("9:00", "24:00", &[]).unwrap().days(),
            vec![1, 2, 3, 4, 5, 6, 7]
        );
        assert!(Window::parse("09:00", "24:00", &[]).unwrap().crosses_midnight());
        assert!(Window::parse("00:00", "24:00", &[]).unwrap().is_always_open());
        assert!(!Window::parse("00:00", "24:00", &[1]).unwrap().is_always_open());
        assert!(Window::parse("00:00", "23:59", &[7]).is_ok());
    }

    #[test]
    fn rejects_bad_windows() {
        use ScheduleError::*;
        for bad in [
            "24:00", "25:00", "12:60", "12", "12:5", "012:00", "ab:cd", "", " 09:00", "-1:00", "+9:00",
        ] {
            assert_eq!(Window::parse(bad, "10:00", &[]), Err(BadStart(bad.into())), "{bad:?}");
        }
        for bad in ["24:01", "25:00", "10:0", "noon"] {
            assert_eq!(Window::parse("09:00", bad, &[]), Err(BadEnd(bad.into())), "{bad:?}");
        }
        assert_eq!(Window::parse("09:00", "10:00", &[0]), Err(BadDay(0)));
        assert_eq!(Window::parse("09:00", "10:00", &[1, 8]), Err(BadDay(8)));
        assert_eq!(Window::parse("09:00", "09:00", &[]), Err(EmptyWindow));
        assert_eq!(Window::parse("00:00", "00:00", &[]), Err(EmptyWindow));
        assert_eq!(
            BadStart("x".into()).to_string(),
            "window.start must be HH:MM from 00:00 to 23:59, got \"x\""
        );
        assert_eq!(
            BadDay(9).to_string(),
            "window.days must be 1 (Monday) to 7 (Sunday), got 9"
        );
        assert_eq!(EmptyWindow.to_string(), "window.start and window.end must differ");
    }

    #[test]
    fn guayaquil_has_no_daylight_saving() {
        // Monday 2026-03-02 09:00 at UTC-5 is 14:00Z.
        let w = sending("America/Guayaquil", "09:00", "18:00", &[1, 2, 3, 4, 5]);
        assert_eq!(
            w.state_at(at("2026-03-02T13:59:59.999Z")),
            WindowState::Closed {
                opens_at: at("2026-03-02T14:00:00Z")
            }
        );
        assert_eq!(
            w.state_at(at("2026-03-02T14:00:00Z")),
            WindowState::Open {
                closes_at: at("2026-03-02T23:00:00Z")
            }
        );
        // Friday evening: closed over the weekend until Monday.
        assert_eq!(
            w.state_at(at("2026-03-06T23:00:00Z")),
            WindowState::Closed {
                opens_at: at("2026-03-09T14:00:00Z")
            }
        );
    }

    #[test]
    fn a_working_day_is_nine_hours_across_clock_changes() {
        for (zone, day, start_z) in [
            ("America/New_York", "2026-03-08", "2026-03-08T13:00:00Z"), // EDT from 02:00
            ("America/New_York", "2026-11-01", "2026-11-01T14:00:00Z"), // EST from 02:00
            ("Europe/Madrid", "2026-03-29", "2026-03-29T07:00:00Z"),    // CEST from 02:00
            ("Europe/Madrid", "2026-10-25", "2026-10-25T08:00:00Z"),    // CET from 03:00
        ] {
            let w = sending(zone, "09:00", "18:00", &[]);
            let (opens, closes) = next_run(&w, at(&format!("{day}T00:00:00Z")) + 2 * HOUR);
            assert_eq!(opens, at(start_z), "{zone} {day}");
            assert_eq!(closes - opens, 9 * HOUR, "{zone} {day}");
        }
    }

    #[test]
    fn a_start_or_end_in_the_spring_forward_gap_is_the_end_of_the_gap() {
        // New York, Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
        let w = sending("America/New_York", "01:30", "02:30", &[7]);
        assert_eq!(
            next_run(&w, at("2026-03-07T12:00:00Z")),
            (at("2026-03-08T06:30:00Z"), at("2026-03-08T07:00:00Z"))
        );
        let w = sending("America/New_York", "02:30", "04:00", &[7]);
        assert_eq!(
            next_run(&w, at("2026-03-07T12:00:00Z")),
            (at("2026-03-08T07:00:00Z"), at("2026-03-08T08:00:00Z"))
        );
        // A window wholly inside the gap does not open that day: the next Sunday instead.
        let w = sending("America/New_York", "02:10", "02:50", &[7]);
        assert_eq!(
            next_run(&w, at("2026-03-07T12:00:00Z")),
            (at("2026-03-15T06:10:00Z"), at("2026-03-15T06:50:00Z"))
        );
        // Madrid, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
        let w = sending("Europe/Madrid", "01:30", "02:30", &[7]);
        assert_eq!(
            next_run(&w, at("2026-03-28T12:00:00Z")),
            (at("2026-03-29T00:30:00Z"), at("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn a_start_or_end_in_the_fall_back_repeat_is_the_earlier_instant() {
        // New York, Sunday 2026-11-01: 01:00–02:00 happens at 05:00Z (EDT) and again at 06:00Z (EST).
        let w = sending("America/New_York", "01:15", "01:45", &[7]);
        assert_eq!(
            next_run(&w, at("2026-10-31T12:00:00Z")),
            (at("2026-11-01T05:15:00Z"), at("2026-11-01T05:45:00Z"))
        );
        let w = sending("America/New_York", "00:00", "01:30", &[7]);
        assert_eq!(
            next_run(&w, at("2026-10-31T12:00:00Z")),
            (at("2026-11-01T04:00:00Z"), at("2026-11-01T05:30:00Z"))
        );
        // From the repeated hour to after it: 01:30 EDT (05:30Z) to 03:00 EST (08:00Z).
        let w = sending("America/New_York", "01:30", "03:00", &[7]);
        assert_eq!(
            next_run(&w, at("2026-10-31T12:00:00Z")),
            (at("2026-11-01T05:30:00Z"), at("2026-11-01T08:00:00Z"))
        );
        // Madrid, Sunday 2026-10-25: 02:00–03:00 happens at 00:00Z (CEST) and again at 01:00Z (CET).
        let w = sending("Europe/Madrid", "02:30", "04:00", &[7]);
        assert_eq!(
            next_run(&w, at("2026-10-24T12:00:00Z")),
            (at("2026-10-25T00:30:00Z"), at("2026-10-25T03:00:00Z"))
        );
    }

    #[test]
    fn a_window_crossing_midnight_belongs_to_the_day_it_starts() {
        // Friday 22:00 to Saturday 06:00, Guayaquil (UTC-5).
        let w = sending("America/Guayaquil", "22:00", "06:00", &[5]);
        assert_eq!(
            w.state_at(at("2026-03-07T03:00:00Z")),
            WindowState::Open {
                closes_at: at("2026-03-07T11:00:00Z")
            }
        );
        assert_eq!(
            w.state_at(at("2026-03-07T10:59:00Z")),
            WindowState::Open {
                closes_at: at("2026-03-07T11:00:00Z")
            }
        );
        assert_eq!(
            w.state_at(at("2026-03-07T11:00:00Z")),
            WindowState::Closed {
                opens_at: at("2026-03-14T03:00:00Z")
            }
        );
        // Thursday 23:00 local: the Friday window has not started.
        assert_eq!(
            w.state_at(at("2026-03-06T04:00:00Z")),
            WindowState::Closed {
                opens_at: at("2026-03-07T03:00:00Z")
            }
        );
    }

    #[test]
    fn a_window_crossing_midnight_over_a_clock_change() {
        // Saturday 22:00 EST (03:00Z) to Sunday 06:00 EDT (10:00Z): 7 h.
        let w = sending("America/New_York", "22:00", "06:00", &[6]);
        assert_eq!(
            next_run(&w, at("2026-03-07T12:00:00Z")),
            (at("2026-03-08T03:00:00Z"), at("2026-03-08T10:00:00Z"))
        );
        // Saturday 22:00 EDT (02:00Z) to Sunday 06:00 EST (11:00Z): 9 h.
        assert_eq!(
            next_run(&w, at("2026-10-31T12:00:00Z")),
            (at("2026-11-01T02:00:00Z"), at("2026-11-01T11:00:00Z"))
        );
        // Madrid, Saturday 23:00 CET (22:00Z) to Sunday 05:00 CEST (03:00Z): 5 h.
        let w = sending("Europe/Madrid", "23:00", "05:00", &[6]);
        assert_eq!(
            next_run(&w, at("2026-03-28T12:00:00Z")),
            (at("2026-03-28T22:00:00Z"), at("2026-03-29T03:00:00Z"))
        );
        // Saturday 23:00 CEST (21:00Z) to Sunday 05:00 CET (04:00Z): 7 h.
        assert_eq!(
            next_run(&w, at("2026-10-24T12:00:00Z")),
            (at("2026-10-24T21:00:00Z"), at("2026-10-25T04:00:00Z"))
        );
    }

    #[test]
    fn touching_windows_close_once() {
        // Whole Monday and Tuesday (2026-03-02, 03) in Madrid (UTC+1): one run.
        let w = sending("Europe/Madrid", "00:00", "24:00", &[1, 2]);
        assert_eq!(
            w.state_at(at("2026-03-02T12:00:00Z")),
            WindowState::Open {
                closes_at: at("2026-03-03T23:00:00Z")
            }
        );
        // Whole days from Tuesday to Sunday: one run, from Tuesday 00:00 to Monday 00:00.
        let w = sending("Europe/Madrid", "00:00", "24:00", &[2, 3, 4, 5, 6, 7]);
        assert_eq!(
            w.state_at(at("2026-03-03T12:00:00Z")),
            WindowState::Open {
                closes_at: at("2026-03-08T23:00:00Z")
            }
        );
        assert_eq!(
            w.state_at(at("2026-03-08T23:00:00Z")),
            WindowState::Closed {
                opens_at: at("2026-03-09T23:00:00Z")
            }
        );
    }

    #[test]
    fn always_open_reports_a_recheck_in_a_week() {
        let w = sending("America/New_York", "00:00", "24:00", &[]);
        let now = at("2026-03-08T06:59:00Z");
        assert_eq!(
            w.state_at(now),
            WindowState::Open {
                closes_at: now + 7 * 24 * HOUR
            }
        );
        assert!(w.state_at(now).is_open());
    }

    #[test]
    fn zone_for_region_covers_every_country() {
        assert!(
            REGION_ZONES.windows(2).all(|p| p[0].0 < p[1].0),
            "REGION_ZONES must be sorted, without duplicates"
        );
        assert!(REGION_ZONES.len() >= 249, "every ISO 3166-1 code");
        for &(code, zone) in REGION_ZONES {
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert_eq!(parse_zone(zone.name()), Ok(zone), "{code}");
            assert_eq!(zone_for_region(code), Some(zone), "{code}");
        }
        for (code, zone) in [
            ("US", "America/New_York"),
            ("BR", "America/Sao_Paulo"),
            ("MX", "America/Mexico_City"),
            ("RU", "Europe/Moscow"),
            ("CA", "America/Toronto"),
            ("AU", "Australia/Sydney"),
            ("ID", "Asia/Jakarta"),
            ("AR", "America/Argentina/Buenos_Aires"),
            ("EC", "America/Guayaquil"),
            ("ES", "Europe/Madrid"),
            ("CL", "America/Santiago"),
            ("KZ", "Asia/Almaty"),
            ("CD", "Africa/Kinshasa"),
            ("VE", "America/Caracas"),
            ("CO", "America/Bogota"),
            ("GB", "Europe/London"),
        ] {
            assert_eq!(zone_for_region(code).map(|z| z.name()), Some(zone), "{code}");
        }
        assert_eq!(zone_for_region("ec"), Some(Tz::America__Guayaquil));
        assert_eq!(zone_for_region(" Es "), Some(Tz::Europe__Madrid));
        for unknown in ["", "E", "ZZ", "ECU", "Ecuador"] {
            assert_eq!(zone_for_region(unknown), None, "{unknown:?}");
        }
    }

    fn any_window() -> impl Strategy<Value = Window> {
        // Whole hours and minutes near the hour, where clock changes happen, plus any minute.
        let minute = prop_oneof![(0u16..=24).prop_map(|h| h * 60), 0u16..=MINUTES_PER_DAY];
        (minute.clone(), minute, prop::collection::vec(1u8..=7, 0..4))
            .prop_filter_map("valid window", |(s, e, days)| {
                Window::parse(&format_hhmm(s), &format_hhmm(e), &days).ok()
            })
    }

    fn any_zone() -> impl Strategy<Value = Tz> {
        let tricky = prop::sample::select(vec![
            Tz::America__New_York,
            Tz::Europe__Madrid,
            Tz::America__Guayaquil,
            Tz::America__Santiago,
            Tz::America__Havana,
            Tz::Australia__Lord_Howe,
            Tz::Pacific__Chatham,
            Tz::Pacific__Apia,
            Tz::Africa__Casablanca,
            Tz::Asia__Gaza,
            Tz::Asia__Tehran,
        ]);
        prop_oneof![tricky, prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec())]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The reported change is exact: the state holds up to the instant before it and
        /// flips at it.
        #[test]
        fn reported_changes_are_exact(
            zone in any_zone(),
            window in any_window(),
            // 1970 to 2100, often near the hour.
            now in prop_oneof![0i64..4_102_444_800_000, (0i64..1_139_568).prop_map(|h| h * HOUR)],
        ) {
            let w = SendingWindow { zone, window };
            match w.state_at(now) {
                WindowState::Open { closes_at } => {
                    prop_assert!(closes_at > now);
                    if w.window.is_always_open() {
                        prop_assert!(w.state_at(closes_at).is_open());
                    } else {
                        prop_assert_eq!(w.state_at(closes_at - 1), WindowState::Open { closes_at });
                        prop_assert!(!w.state_at(closes_at).is_open(), "touching runs are merged");
                    }
                }
                WindowState::Closed { opens_at } => {
                    prop_assert!(opens_at > now && opens_at < now + 16 * MS_PER_DAY);
                    prop_assert!(w.state_at(opens_at).is_open());
                    prop_assert_eq!(w.state_at(opens_at - 1), WindowState::Closed { opens_at });
                }
            }
        }
    }
}
